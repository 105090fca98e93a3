//! The simulator's driver: the night's agenda as an event queue in virtual
//! time. It holds no rule of the night: it takes the earliest move (ties,
//! listed in the order they were scheduled, broken by the chooser) and
//! applies it.

use crate::chooser::Chooser;
use crate::error::Result;
use crate::night::{Night, Scheduled};
use crate::report::Report;
use crate::scenario::{Options, preset};
use crate::volume::SimVolume;

pub(super) fn run(opts: &Options, chooser: Chooser) -> Result<Report> {
    let (hd, drive) = preset::volumes();
    let mut night = Night::new(opts, hd, drive, chooser)?;
    for n in 0..opts.nights {
        night.begin(n)?;
        loop {
            while let Some(Scheduled { at, mv, .. }) = next(&mut night) {
                night.apply(at, mv)?;
            }
            if !night.settle() {
                break;
            }
        }
        night.end()?;
    }
    night.finish()
}

/// The earliest move on the agenda; simultaneous ones are ordered by the
/// chooser (the tied ones listed in the order they were scheduled).
fn next(night: &mut Night<'_, SimVolume>) -> Option<Scheduled> {
    let agenda = night.agenda();
    let first = (0..agenda.len()).min_by_key(|&i| (agenda[i].at, agenda[i].seq))?;
    let t = agenda[first].at;
    let ties = agenda.iter().filter(|e| e.at == t).count();
    let i = if ties == 1 {
        first
    } else {
        let mut tied: Vec<usize> = (0..agenda.len()).filter(|&i| agenda[i].at == t).collect();
        tied.sort_unstable_by_key(|&i| agenda[i].seq);
        tied[night.choose(ties as u32) as usize]
    };
    Some(night.take(i))
}
