//! The small parsers: `TimeOfDay::parse`, `VolumePath::parse` and the
//! exclusion specs (`ExcludeGlob`, `ExcludeFolder`, `ExcludeFile`). None
//! panics, each round-trips what it accepts (as a scenario file relies on),
//! and matching a path never panics.
//!
//! The input is text; up to its first newline it is the string under test,
//! after it the path an exclusion is matched against (the string itself when
//! there is no newline).

#![no_main]

use libfuzzer_sys::fuzz_target;
use mailsim::policy::{ExcludeFile, ExcludeFolder, ExcludeGlob, ExclusionPolicy};
use mailsim::{TimeOfDay, VolumePath};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (spec, path) = text.split_once('\n').unwrap_or((&text, &text));

    if let Some(t) = TimeOfDay::parse(spec) {
        assert!(
            t.secs_since_midnight() < 86_400,
            "{spec:?} parsed past midnight: {t:?}"
        );
        assert_eq!(
            TimeOfDay::parse(&t.to_string()),
            Some(t),
            "{spec:?}: the time does not read back from its display"
        );
    }

    let parsed = VolumePath::parse(spec);
    if let Some(p) = &parsed {
        assert_eq!(
            p.to_string(),
            spec,
            "a volume path does not display as it was written"
        );
        assert!(!p.volume().is_empty());
        assert!(
            p.components()
                .iter()
                .all(|c| !c.is_empty() && !c.contains(':'))
        );
        assert_eq!(p.is_root(), !spec.contains(':'));
    }

    // The paths an exclusion is asked about: the parsed one, and a few of
    // the preset's.
    let mut paths: Vec<VolumePath> = VolumePath::parse(path).into_iter().collect();
    paths.extend(parsed);
    paths.push(VolumePath::root("Server HD"));
    paths.push(VolumePath::new(
        "Server HD",
        ["System Folder", "Extensions", "Microsoft Mail Data"],
    ));

    let glob = ExcludeGlob::new(spec);
    // What a scenario file stores (the pattern) reads back as the same glob.
    let reread = ExcludeGlob::try_new(glob.pattern()).unwrap_or_else(|e| {
        panic!("{spec:?}: the pattern ExcludeGlob::new kept does not parse: {e}")
    });
    assert_eq!(reread, glob);
    if let Ok(strict) = ExcludeGlob::try_new(spec) {
        assert_eq!(strict.pattern(), spec);
        assert_eq!(strict, glob);
    }
    let folder = ExcludeFolder::new(spec);
    assert_eq!(
        ExcludeFolder::new(folder.spec()),
        folder,
        "{spec:?}: folder spec round trip"
    );
    let file = ExcludeFile::new(spec);
    assert_eq!(
        ExcludeFile::new(file.spec()),
        file,
        "{spec:?}: file spec round trip"
    );
    for p in &paths {
        let g = glob.excludes(p);
        let d = folder.excludes(p);
        let f = file.excludes(p);
        // The same answers from the specs read back.
        assert_eq!(reread.excludes(p), g);
        assert_eq!(ExcludeFolder::new(folder.spec()).excludes(p), d);
        assert_eq!(ExcludeFile::new(file.spec()).excludes(p), f);
    }
});
