//! Properties over seeds and options.

use mailsim::datafile::{self, ReadAt, RecordFlags};
use mailsim::policy::{ExcludeAny, ExcludeFile, ExcludeFolder, ExcludeNothing, ExclusionPolicy};
use mailsim::volume::{Content, SimVolume, Volume, VolumePath};
use mailsim::{ConflictBehavior, MailServer, OpenFilePolicy, Outcome, Scenario};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::Duration;

use crate::support::{foreign_access, outcome_from_timeline};

fn behaviors() -> impl Strategy<Value = Option<ConflictBehavior>> {
    prop_oneof![
        Just(None),
        Just(Some(ConflictBehavior::Shutdown)),
        Just(Some(ConflictBehavior::Hang)),
        Just(Some(ConflictBehavior::Tolerate)),
    ]
}

fn open_files() -> impl Strategy<Value = OpenFilePolicy> {
    prop_oneof![
        Just(OpenFilePolicy::IgnoreLocks),
        (0u32..4, 1u64..300).prop_map(|(retries, s)| OpenFilePolicy::RespectLocks {
            retries,
            interval: Duration::from_secs(s)
        }),
        (1u64..600, 1u64..3600).prop_map(|(i, t)| OpenFilePolicy::WaitForIdle {
            idle: Duration::from_secs(i),
            timeout: Duration::from_secs(t)
        }),
    ]
}

fn exclusions() -> impl Strategy<Value = Arc<dyn ExclusionPolicy>> {
    prop_oneof![
        Just(Arc::new(ExcludeNothing) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFolder::new("System Folder")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFolder::new("Extensions")) as Arc<dyn ExclusionPolicy>),
        Just(Arc::new(ExcludeFile::new("Microsoft Mail Data")) as Arc<dyn ExclusionPolicy>),
        Just(
            Arc::new(ExcludeAny::new().with(ExcludeFolder::new("Documents")))
                as Arc<dyn ExclusionPolicy>
        ),
    ]
}

fn scenarios() -> impl Strategy<Value = Scenario> {
    (
        any::<u64>(),
        behaviors(),
        open_files(),
        exclusions(),
        1u32..3,
    )
        .prop_map(|(seed, b, of, ex, nights)| {
            let s = Scenario::kb98097()
                .seed(seed)
                .open_files(of)
                .exclusion_arc(ex)
                .nights(nights);
            match b {
                Some(b) => s.conflict_behavior(b),
                None => s,
            }
        })
}

/// A server started on an empty data file of its own volume.
fn empty_server() -> (SimVolume, VolumePath, MailServer) {
    let v = SimVolume::new("Server HD");
    let path = VolumePath::new("Server HD", ["Microsoft Mail Data"]);
    v.put_file(&path, Content::from_bytes(&datafile::build_image(0, [])))
        .unwrap();
    let server = MailServer::start(&v, path.clone()).unwrap();
    (v, path, server)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn same_scenario_and_seed_give_identical_json(s in scenarios()) {
        prop_assert_eq!(s.run().unwrap().to_json(), s.clone().run().unwrap().to_json());
    }

    #[test]
    fn invariants_hold(s in scenarios()) {
        let r = s.run().unwrap();
        prop_assert_eq!(r.metrics().messages_lost, 0);
        prop_assert_eq!(r.outcome(), outcome_from_timeline(&r));
        if !foreign_access(&r) {
            prop_assert_eq!(r.outcome(), Outcome::Clean);
        }
        let m = r.metrics();
        prop_assert_eq!(m.server_downtime, m.planned_downtime + m.unplanned_downtime);
        prop_assert_eq!(r.archive().len() as u64, m.files_archived);
        prop_assert_eq!(r.archive().iter().map(|a| a.len_bytes).sum::<u64>(), m.bytes_archived);
    }

    #[test]
    fn replaying_the_choices_gives_the_same_report(s in scenarios()) {
        let r = s.run().unwrap();
        let again = s.replay(r.choices()).unwrap();
        prop_assert_eq!(r.to_json(), again.to_json());
    }

    /// Every state the server commits verifies, whatever the requests.
    #[test]
    fn verify_accepts_every_committed_state(ops in proptest::collection::vec((0u8..4, any::<u32>()), 1..60)) {
        let (v, path, mut server) = empty_server();
        let mut generation = 0;
        for (op, x) in ops {
            let commit = match op {
                0 | 1 => Some(server.deliver(&v, x % 20_000).unwrap()),
                2 => server.mark_read(&v, x).unwrap(),
                _ => server.delete(&v, x).unwrap(),
            };
            if server.needs_compaction() {
                server.compact(&v).unwrap();
            }
            if commit.is_some() {
                let image = v.contents(&path).unwrap();
                let verified = datafile::verify_from(&image).unwrap();
                prop_assert!(verified.generation > generation);
                generation = verified.generation;
                prop_assert_eq!(verified.message_count, server.message_count());
                prop_assert_eq!(datafile::verify(&image.to_vec()).unwrap(), verified);
                prop_assert_eq!(image.len_bytes(), ReadAt::len_bytes(&image));
            }
        }
    }

    /// The server's own index (where each message is, which are live)
    /// agrees with a scan of the file, whatever the requests and
    /// compactions that came before.
    #[test]
    fn the_servers_index_agrees_with_a_scan(ops in proptest::collection::vec((0u8..5, any::<u32>()), 1..200)) {
        let (v, path, mut server) = empty_server();
        let mut next_id_seen = 0;
        for (op, x) in ops {
            match op {
                0 | 1 => {
                    let c = server.deliver(&v, x % 3_000).unwrap();
                    next_id_seen = next_id_seen.max(c.message_id.unwrap() + 1);
                }
                2 => {
                    server.mark_read_message(&v, u64::from(x) % (next_id_seen + 2)).unwrap();
                }
                _ => {
                    server.delete_message(&v, u64::from(x) % (next_id_seen + 2)).unwrap();
                }
            }
            if server.needs_compaction() {
                server.compact(&v).unwrap();
            }
        }
        let image = v.contents(&path).unwrap();
        let (_, records) = datafile::scan(&image).unwrap();
        for id in 0..next_id_seen + 2 {
            let want = records.iter().find(|r| r.message_id == id).map(|r| r.offset);
            prop_assert_eq!(server.offset_of(id), want, "message {}", id);
        }
        let live: Vec<u64> = records
            .iter()
            .rev()
            .filter(|r| !r.flags.contains(RecordFlags::DELETED))
            .map(|r| r.message_id)
            .collect();
        prop_assert_eq!(server.message_count(), live.len() as u64);
        for (pick, id) in live.iter().enumerate() {
            prop_assert_eq!(server.message_at(pick as u32), Some(*id));
        }
        // A deleted message can be neither read nor deleted again.
        for r in records.iter().filter(|r| r.flags.contains(RecordFlags::DELETED)) {
            prop_assert!(server.mark_read_message(&v, r.message_id).unwrap().is_none());
        }
    }
}
