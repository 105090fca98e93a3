//! The night's judgement: every archived file judged by the oracle, and at
//! the end of the run the acknowledged deliveries looked up in the live
//! file and the report built.

use super::{Night, NightVolume};
use crate::backup::BackupItem;
use crate::datafile::{self, RecordFlags};
use crate::error::{Error, Result};
use crate::report::{ArchivedFile, Report, Verdict};
use crate::scenario::Scenario;
use crate::server::ConflictBehavior;
use crate::time::SimTime;

impl<V: NightVolume> Night<'_, V> {
    pub(super) fn judge(
        &mut self,
        set: Vec<BackupItem>,
        night_began: SimTime,
        backup_end: SimTime,
    ) -> bool {
        let mut torn = false;
        let mut newest: Option<(bool, SimTime)> = None;
        for item in set {
            let name = item.path.name();
            let mail_data = item.path == self.live
                || datafile::is_mail_data_name(name)
                || self.oracle.recognizes(&item.content);
            let taken_at = item.taken_at;
            let verdict = if mail_data {
                match self.oracle.judge(&item.content) {
                    Some(generation) => Verdict::Consistent {
                        generation,
                        age: backup_end - taken_at,
                        stale: taken_at < night_began,
                    },
                    None => {
                        torn = true;
                        Verdict::Torn
                    }
                }
            } else {
                Verdict::Consistent {
                    generation: 0,
                    age: backup_end - taken_at,
                    stale: false,
                }
            };
            if mail_data {
                let candidate = (verdict.is_consistent(), taken_at);
                if newest.is_none_or(|n| candidate > n) {
                    newest = Some(candidate);
                }
            }
            self.archive.push(ArchivedFile {
                path: item.path,
                len_bytes: item.content.len_bytes(),
                mail_data,
                night: self.log.night,
                taken_at,
                verdict,
            });
        }
        self.metrics.recovery_point_age = newest.map(|(_, at)| backup_end - at);
        torn
    }

    /// The run's report, once every night has ended.
    pub(crate) fn finish(mut self) -> Result<Report> {
        // Nothing is lost: every acknowledged delivery not deleted by its
        // owner is in the live file. Each one is looked up where the
        // server's index says it is, and read from the file's bytes: a
        // missing, moved, or deleted record counts as lost.
        let image = self.hd.contents(&self.live)?;
        let header = datafile::read_header(&image).map_err(|source| Error::DataFile {
            path: self.live.clone(),
            source,
        })?;
        self.deleted.sort_unstable();
        self.metrics.deliveries_acknowledged = self.acked.len() as u64;
        let lost: Vec<u64> = self
            .acked
            .iter()
            .copied()
            .filter(|&id| self.deleted.binary_search(&id).is_err())
            .filter(|&id| {
                let found = self
                    .server
                    .offset_of(id)
                    .and_then(|at| datafile::record_at(&image, &header, at).ok());
                !found
                    .is_some_and(|r| r.message_id == id && !r.flags.contains(RecordFlags::DELETED))
            })
            .collect();
        self.metrics.messages_lost = lost.len() as u64;
        self.metrics.server_downtime =
            self.metrics.planned_downtime + self.metrics.unplanned_downtime;
        let o = self.opts;
        // Steps narrate what they finish at the time it finishes, which may
        // be after other events were logged: put the narration in time order.
        if !self.log.events.is_sorted_by_key(|e| e.time) {
            self.log.events.sort_by_key(|e| e.time);
        }
        let (choices, streams) = self.chooser.into_records();
        Ok(Report {
            outcome: self.outcome,
            seed: o.seed,
            choices,
            streams,
            scenario: {
                let mut s = Scenario { opts: o.clone() };
                s.opts.choices = None;
                s
            },
            metrics: self.metrics,
            archive: self.archive,
            timeline: self.log.events,
            nights: o.nights,
            events_processed: self.events_processed,
            lost,
            behavior: o.conflict.map_or("kb", ConflictBehavior::as_str).to_owned(),
            snapshot: o.snapshot.name().to_owned(),
            open_files: o.open_files.as_str().to_owned(),
            live: self.live.clone(),
        })
    }
}
