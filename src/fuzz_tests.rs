//! A bounded, seeded fuzzer for every parser of external input: AWS's and Mackerel's answers,
//! the credential endpoints, the Lambda runtime API's headers, the files read and the command
//! line. Each parser's own tests call [`fuzz`] with valid samples; it derives a few hundred
//! inputs from them (bytes flipped, cut, repeated and spliced, tokens inserted, nesting
//! deepened, numbers made huge) and feeds each one. The parser must not panic, must finish each
//! input within a second, and must not make more of its output than its input can hold: no
//! hang and no unbounded memory. The seed is the parser's name, so a failure repeats.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

/// Inputs per parser.
const CASES: usize = 300;
/// No input is longer.
const LONGEST: usize = 2 << 20;

/// Feeds [`CASES`] inputs made from `samples` to `parse`, which returns how much it made
/// (items, or bytes kept).
pub fn fuzz(name: &str, samples: &[&[u8]], parse: impl Fn(&[u8]) -> usize) {
    let mut rng = Rng::new(name);
    let started = Instant::now();
    for case in 0..CASES {
        let input = make(&mut rng, samples);
        let t = Instant::now();
        let made = catch_unwind(AssertUnwindSafe(|| parse(&input))).unwrap_or_else(|_| {
            panic!(
                "{name}: case {case} panicked on {:?}",
                String::from_utf8_lossy(&input[..input.len().min(300)])
            )
        });
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "{name}: case {case} took {:?}",
            t.elapsed()
        );
        assert!(
            made <= 4 * input.len() + 64,
            "{name}: case {case} made {made} from {} bytes",
            input.len()
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{name}: {:?}",
        started.elapsed()
    );
}

/// Bits of syntax that trouble parsers.
const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<a>",
    "&amp;",
    "&#0;",
    "&#x110000;",
    "&bogus;",
    "<![CDATA[",
    "]]>",
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "=",
    "%",
    "%00",
    "\n",
    "\r\n",
    "\0",
    "#",
    "99999999999999999999999",
    "-9223372036854775809",
    "1e400",
    "NaN",
    "-0",
    "null",
    "ü",
    "\u{1b}[31m",
    "\u{feff}",
    "9999-99-99T99:99:99Z",
    "18446744073709551615s",
];

fn make(rng: &mut Rng, samples: &[&[u8]]) -> Vec<u8> {
    let mut v = samples[rng.below(samples.len())].to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(8) {
            0 => {}
            1 => {
                for _ in 0..1 + rng.below(8) {
                    if !v.is_empty() {
                        let i = rng.below(v.len());
                        v[i] = rng.next() as u8;
                    }
                }
            }
            2 => v.truncate(at),
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())].as_bytes();
                v.splice(at..at, t.iter().copied());
            }
            4 => {
                let other = samples[rng.below(samples.len())];
                let from = rng.below(other.len() + 1);
                v.splice(at..at, other[from..].iter().copied());
            }
            5 if !v.is_empty() => {
                // A slice repeated, up to a thousand times.
                let end = (at + 1 + rng.below(16)).min(v.len());
                let start = at.min(end.saturating_sub(1));
                let piece = v[start..end].to_vec();
                let times = 1 + rng.below(1000);
                for _ in 0..times {
                    v.splice(start..start, piece.iter().copied());
                }
            }
            6 => {
                // Deep nesting of whichever kind, closed or not.
                let (open, close) = [("<a>", "</a>"), ("[", "]"), ("{\"a\":", "}")][rng.below(3)];
                let n = 1 + rng.below(300_000);
                if rng.below(2) == 0 {
                    v.extend(close.repeat(n).bytes());
                }
                v.splice(at..at, open.repeat(n).bytes());
            }
            _ => {
                let n = rng.below(64);
                v.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
        }
    }
    v.truncate(LONGEST);
    v
}

/// xorshift64*, seeded from a name.
struct Rng(u64);

impl Rng {
    fn new(name: &str) -> Rng {
        let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

#[test]
fn the_fuzzer_finds_a_panic() {
    let found = catch_unwind(|| {
        fuzz("self-test", &[b"abc"], |input| {
            assert!(!input.contains(&b'<'), "boom");
            0
        })
    });
    assert!(found.is_err());
}
