//! The simulator's driver: the night's agenda as an event queue in virtual
//! time. It holds no rule of the night: it takes the earliest move
//! ([`Night::take_earliest`]) and applies it, at once.

use crate::chooser::Chooser;
use crate::error::Result;
use crate::night::{Night, Scheduled};
use crate::report::Report;
use crate::scenario::{Options, preset};

pub(super) fn run(opts: &Options, chooser: Chooser) -> Result<Report> {
    let (hd, drive) = preset::volumes();
    let mut night = Night::new(opts, hd, drive, chooser)?;
    for n in 0..opts.nights {
        night.begin(n)?;
        loop {
            while let Some(Scheduled { at, mv, .. }) = night.take_earliest() {
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
