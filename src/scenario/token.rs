//! Replay tokens: a night — the scenario's settings, its policies' names
//! and its choices — as one short printable line, safe to paste into a
//! shell: `mailsim1.SETTINGS.CHOICES`.
//!
//! `SETTINGS` is the scenario file of the night (see `file`) with only the
//! keys that differ from the KB preset, as compact JSON; `CHOICES` is the
//! record, each list without its trailing zeros, as LEB128 numbers (a kind
//! byte, 0 for a sequence and 1 for a streamed record, then each list as
//! its length and its values, streams in the order of [`Stream::ALL`]).
//! Both are base64url without padding. A policy of the user's own is named
//! in `SETTINGS` (`{"policy":"custom","name":…}`) and must be supplied when
//! the token is read.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use super::file::{Units, doc_value};
use super::{MAX_SCENARIO_FILE_BYTES, Options, SCENARIO_SCHEMA, SCENARIO_VERSION, Scenario};
use crate::chooser::{Choices, Stream};
use crate::error::{Error, Result};

/// What every token begins with: the format and its version.
const PREFIX: &str = "mailsim1";

/// The token of the night `choices` describes in the scenario `o`.
pub(crate) fn encode(o: &Options, choices: &Choices) -> String {
    let settings = settings(o).unwrap_or_default();
    let record = record_bytes(&choices.trimmed());
    format!("{PREFIX}.{}.{}", B64.encode(settings), B64.encode(record))
}

/// The keys of `o`'s scenario file that differ from the preset's.
fn settings(o: &Options) -> Result<Vec<u8>> {
    let value = |o: &Options| doc_value(o, Units::Nearest);
    let preset = Scenario::kb98097();
    let (serde_json::Value::Object(mut doc), serde_json::Value::Object(base)) =
        (value(o)?, value(&preset.opts)?)
    else {
        return Err(Error::invalid("scenario", "not a document"));
    };
    doc.retain(|k, v| k != "schema" && k != "version" && base.get(k) != Some(v));
    serde_json::to_vec(&doc).map_err(|e| Error::invalid("scenario", e.to_string()))
}

fn record_bytes(choices: &Choices) -> Vec<u8> {
    let mut out = Vec::with_capacity(choices.len() + 8);
    let list = |out: &mut Vec<u8>, values: &[u32]| {
        leb128(out, values.len() as u64);
        for &v in values {
            leb128(out, u64::from(v));
        }
    };
    if choices.is_streamed() {
        out.push(1);
        for s in Stream::ALL {
            list(&mut out, choices.stream(s).unwrap_or_default());
        }
    } else {
        out.push(0);
        list(&mut out, choices.as_slice());
    }
    out
}

fn leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn bad(reason: impl Into<String>) -> Error {
    Error::InvalidScenarioFile {
        field: "replay token".to_owned(),
        reason: reason.into(),
    }
}

/// The scenario a token describes, its night to be replayed.
pub(crate) fn decode(token: &str) -> Result<Scenario> {
    let token = token.trim();
    if token.len() as u64 > MAX_SCENARIO_FILE_BYTES {
        return Err(bad(format!(
            "{} bytes is more than the limit of {MAX_SCENARIO_FILE_BYTES}",
            token.len()
        )));
    }
    let mut parts = token.split('.');
    let (Some(prefix), Some(settings), Some(record), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!(
            "not a replay token: expected {PREFIX}.SETTINGS.CHOICES"
        )));
    };
    if prefix != PREFIX {
        return Err(bad(format!(
            "{prefix:?} is not {PREFIX:?} (a token of another version, or not a token)"
        )));
    }
    let settings = B64
        .decode(settings)
        .map_err(|e| bad(format!("its settings are not base64url: {e}")))?;
    let record = B64
        .decode(record)
        .map_err(|e| bad(format!("its choices are not base64url: {e}")))?;
    let mut doc: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&settings)
        .map_err(|e| bad(format!("its settings are not a JSON object: {e}")))?;
    for key in ["schema", "version", "choices"] {
        if doc.contains_key(key) {
            return Err(bad(format!("its settings may not hold {key:?}")));
        }
    }
    doc.insert("schema".to_owned(), SCENARIO_SCHEMA.into());
    doc.insert("version".to_owned(), SCENARIO_VERSION.into());
    let text = serde_json::Value::Object(doc).to_string();
    let mut scenario = Scenario::from_json(&text)?.scenario;
    scenario.opts.choices = Some(parse_record(&record)?);
    Ok(scenario)
}

fn parse_record(bytes: &[u8]) -> Result<Choices> {
    let mut r = Reader { bytes, pos: 0 };
    let kind = r.byte()?;
    let choices = match kind {
        0 => Choices::from(r.list()?),
        1 => {
            let mut lists = Vec::with_capacity(Stream::ALL.len());
            for s in Stream::ALL {
                lists.push((s, r.list()?));
            }
            Choices::from_streams(lists)
        }
        k => return Err(bad(format!("its choices are of kind {k}, not 0 or 1"))),
    };
    if r.pos != bytes.len() {
        return Err(bad(format!(
            "{} bytes after its choices",
            bytes.len() - r.pos
        )));
    }
    Ok(choices)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| bad("its choices end early"))?;
        self.pos += 1;
        Ok(b)
    }

    fn number(&mut self) -> Result<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("a number in its choices is too long"))
    }

    fn list(&mut self) -> Result<Vec<u32>> {
        let len = self.number()?;
        // Each value takes at least a byte: a longer list cannot be there.
        if len > (self.bytes.len() - self.pos) as u64 {
            return Err(bad(format!(
                "a list of {len} choices is longer than the token"
            )));
        }
        let mut out = Vec::with_capacity(len as usize);
        for _ in 0..len {
            let v = self.number()?;
            out.push(
                u32::try_from(v).map_err(|_| bad(format!("choice {v} is more than 2^32 - 1")))?,
            );
        }
        Ok(out)
    }
}

impl Scenario {
    /// The replay token of the night `choices` describes in this scenario:
    /// one short printable line (`mailsim1.…`) holding the settings that
    /// differ from the KB preset, the policies' names and the choices.
    /// [`Scenario::from_replay_token`] rebuilds the night;
    /// [`Report::replay_token`](crate::Report::replay_token) gives a
    /// night's own. Durations are held to the microsecond, at most a year.
    pub fn to_replay_token(&self, choices: &Choices) -> String {
        encode(&self.opts, choices)
    }

    /// Rebuilds the night a replay token describes: [`run`](Scenario::run)
    /// replays its choices exactly. A policy of your own that the token
    /// names must be supplied first, with [`snapshot`](Scenario::snapshot)
    /// (or [`exclusion`](Scenario::exclusion)); until then `run` fails with
    /// an error naming it.
    ///
    /// ```
    /// use mailsim::{ConflictBehavior, Scenario};
    ///
    /// let report = Scenario::kb98097().seed(7).conflict_behavior(ConflictBehavior::Hang).run()?;
    /// let token = report.replay_token();
    /// let again = Scenario::from_replay_token(&token)?.run()?;
    /// assert_eq!(again.to_json(), report.to_json());
    /// # Ok::<(), mailsim::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidScenarioFile`] (field `replay token`) for a text that
    /// is not a token of this version, or whose choices are malformed; the
    /// errors of [`Scenario::from_json`] for settings that are not a
    /// scenario.
    pub fn from_replay_token(token: &str) -> Result<Scenario> {
        decode(token)
    }

    /// The night this scenario replays instead of drawing one from its
    /// seed, if it was rebuilt from a replay token.
    pub fn replay_choices(&self) -> Option<&Choices> {
        self.opts.choices.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_goes_through_its_bytes() {
        for c in [
            Choices::from(vec![]),
            Choices::from(vec![0, 1, 127, 128, 300, u32::MAX]),
            Choices::from_streams([(Stream::Arrivals, vec![5, 0, 7]), (Stream::Order, vec![1])]),
        ] {
            assert_eq!(parse_record(&record_bytes(&c)).unwrap(), c);
        }
    }

    #[test]
    fn nonsense_is_refused_with_its_reason() {
        let err = |t: &str| decode(t).unwrap_err().to_string();
        assert!(err("hello").contains("expected mailsim1.SETTINGS.CHOICES"));
        assert!(err("mailsim9.e30.AA").contains("another version"));
        assert!(err("mailsim1.!!.AA").contains("not base64url"));
        assert!(err("mailsim1.e30.Ag").contains("kind 2"));
        // A list claiming more values than there are bytes.
        assert!(err(&format!("mailsim1.e30.{}", B64.encode([0u8, 0xff, 0x01]))).contains("longer"));
        assert!(
            err(&format!(
                "mailsim1.e30.{}",
                B64.encode([0u8, 1, 0xff, 0xff, 0xff, 0xff, 0x7f])
            ))
            .contains("2^32")
        );
        assert!(err(&format!("mailsim1.{}.AAA", B64.encode(b"[1]"))).contains("not a JSON object"));
        assert!(
            err(&format!(
                "mailsim1.{}.AAA",
                B64.encode(br#"{"nights":"x"}"#)
            ))
            .contains("nights")
        );
        assert!(
            err(&format!("mailsim1.{}.AAA", B64.encode(br#"{"version":1}"#))).contains("version")
        );
        // The empty settings object and an empty sequence: the preset.
        let s = decode("mailsim1.e30.AAA").unwrap();
        assert_eq!(s.replay_choices(), Some(&Choices::from(vec![])));
    }
}
