use mailsim::*;
fn main() {
    for b in [
        Some(ConflictBehavior::Shutdown),
        Some(ConflictBehavior::Hang),
        Some(ConflictBehavior::Tolerate),
        None,
    ] {
        let mut counts = std::collections::BTreeMap::new();
        let t = std::time::Instant::now();
        let mut ev = 0;
        for seed in 0..100 {
            let mut s = Scenario::kb98097().seed(seed);
            if let Some(b) = b {
                s = s.conflict_behavior(b);
            }
            let r = s.run().unwrap();
            ev += r.timeline().len();
            *counts.entry(r.outcome()).or_insert(0) += 1;
            if seed == 0 && b == Some(ConflictBehavior::Tolerate) {
                for e in r
                    .timeline()
                    .iter()
                    .filter(|e| e.actor != mailsim::report::Actor::MailClients)
                {
                    println!("{e}");
                }
                println!("{:?}", r.metrics());
            }
        }
        println!(
            "{b:?}: {counts:?} {:?}/night, {} events/night",
            t.elapsed() / 100,
            ev / 100
        );
    }
}
