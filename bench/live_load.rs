//! The live path's memory at scale, without an API server: fills a `Picture` the way
//! `sources::cluster::fetch` does (each item as compact JSON text, `managedFields` dropped) from
//! a snapshot file, then loads it as `scan --cluster` does, and prints objects and timings.
//! Run under `/usr/bin/time -v` (or `bench/cluster_scale.py --live`) for peak RSS.
//!
//! `cargo run --release --example live_load -- SNAPSHOT.json`

use std::time::Instant;

use hindsight::sources::cluster::Picture;
use serde_json::value::RawValue;

/// As the `hindsight` binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(serde::Deserialize)]
struct List {
    items: Items,
}

/// Items converted one at a time, as pages are: parsed, `managedFields` dropped, kept compact.
struct Items(Vec<Box<RawValue>>);

impl<'de> serde::Deserialize<'de> for Items {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Items;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a list of objects")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Items, A::Error> {
                use serde::de::Error;
                let mut out = Vec::new();
                while let Some(mut item) = seq.next_element::<serde_json::Value>()? {
                    if let Some(meta) = item.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                        meta.remove("managedFields");
                    }
                    let text = serde_json::to_string(&item).map_err(A::Error::custom)?;
                    out.push(RawValue::from_string(text).map_err(A::Error::custom)?);
                }
                Ok(Items(out))
            }
        }
        d.deserialize_seq(Visit)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: live_load SNAPSHOT.json")?;
    let started = Instant::now();
    let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(&path)?);
    let list: List = serde_json::from_reader(file)?;
    let picture = Picture {
        items: list.items.0,
        ..Picture::default()
    };
    let compact: usize = picture.items.iter().map(|i| i.get().len()).sum();
    eprintln!(
        "picture: {} items, {} MB of compact JSON, filled in {:.1} s",
        picture.items.len(),
        compact / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    let loading = Instant::now();
    let loaded = picture.load();
    eprintln!(
        "loaded {} objects ({} errors) in {:.1} s",
        loaded.objects.len(),
        loaded.errors.len(),
        loading.elapsed().as_secs_f64()
    );
    Ok(())
}
