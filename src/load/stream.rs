//! Huge JSON Lists (cluster snapshots, `kubectl get -o json` dumps) read without holding the
//! text: memory stays near the size of the trees kept, well below the file's size.
//!
//! The file is read in 8 MiB chunks by a byte-level splitter that tracks depth and strings
//! (`memchr2` skips string bodies) and copies each element of the top-level `items` array into
//! a batch. Batches of ~1,024 items go through a bounded channel to a thread that converts them
//! in parallel (rayon), so reading and converting overlap. Every item gets the line it starts on,
//! as the whole-text path gives it. Anything that is not one top-level object with an `items`
//! array (a stream of objects, a top-level array) is reported as [`Streamed::NotAList`] and the
//! caller falls back to the whole-text path.

use rayon::prelude::*;
use std::io::Read;
use std::sync::mpsc::sync_channel;

use super::json::{self, Parsed};

const CHUNK: usize = 8 << 20;
const BATCH_ITEMS: usize = 1024;
const BATCH_BYTES: usize = 8 << 20;
/// Top-level values other than `items` (`metadata`, the snapshot header) are small; a bigger
/// one means this is not a List worth streaming.
const MAX_TOP_VALUE: usize = 64 << 20;

/// What streaming made of a file.
#[derive(Debug)]
pub enum Streamed {
    /// Documents (items with their List's `apiVersion`/`kind` filled in), errors, header.
    Done(Vec<Parsed>),
    /// Not one top-level object with `items`: read it whole instead.
    NotAList,
}

/// One batch of items: their bytes back to back and `(start, end, line)` per item.
type Batch = (Vec<u8>, Vec<(usize, usize, u32)>);

/// Splits a List read from `reader`. IO errors end the read; what was read until then is kept
/// and the error is reported on the line where reading stopped.
pub fn parse_reader(mut reader: impl Read) -> Streamed {
    let (tx, rx) = sync_channel::<Batch>(2);
    // Emptied batch buffers go back to the splitter: fresh 8 MiB buffers cost page faults.
    let (recycle_tx, recycle_rx) = sync_channel::<Batch>(4);
    std::thread::scope(|scope| {
        let worker = scope.spawn(move || {
            let mut out: Vec<Parsed> = Vec::new();
            let interner = json::Interner::default();
            for (mut bytes, mut ranges) in rx {
                let converted: Vec<Parsed> = ranges
                    .par_iter()
                    .map(|&(start, end, line)| convert(&bytes[start..end], line, &interner))
                    .collect();
                out.extend(converted);
                bytes.clear();
                ranges.clear();
                let _ = recycle_tx.try_send((bytes, ranges));
            }
            out
        });
        let split = split(&mut reader, tx, &recycle_rx);
        // The worker only converts; conversion errors are values, so it cannot panic on input.
        let items = worker.join().expect("conversion thread panicked");
        match split {
            None => Streamed::NotAList,
            Some(tail) => Streamed::Done(assemble(items, tail)),
        }
    })
}

/// Runs the splitter over the whole input, sending batches; `None` when it is not a List.
fn split(
    reader: &mut impl Read,
    tx: std::sync::mpsc::SyncSender<Batch>,
    recycled: &std::sync::mpsc::Receiver<Batch>,
) -> Option<Vec<Parsed>> {
    let mut splitter = Splitter::default();
    let new_batch = || {
        recycled.try_recv().unwrap_or_else(|_| {
            (
                Vec::with_capacity(BATCH_BYTES + (1 << 20)),
                Vec::with_capacity(BATCH_ITEMS),
            )
        })
    };
    let mut batch: Batch = new_batch();
    let mut failure: Option<Parsed> = None;
    let mut first = true;
    loop {
        let keep_from = splitter.keep_from();
        splitter.consume(keep_from);
        let before = splitter.buf.len();
        // `take` + `read_to_end` appends up to a chunk without zero-filling the buffer first.
        let read = match reader
            .by_ref()
            .take(CHUNK as u64)
            .read_to_end(&mut splitter.buf)
        {
            Ok(n) => n,
            Err(e) => {
                failure = Some(Parsed::Error {
                    line: splitter.line_at(before),
                    message: format!("read error: {e}"),
                });
                break;
            }
        };
        if first {
            first = false;
            if splitter.buf.starts_with(b"\xEF\xBB\xBF") {
                splitter.pos = 3;
                splitter.line_pos = 3;
            }
        }
        if splitter.scan(&mut batch).is_err() {
            return None;
        }
        if (batch.1.len() >= BATCH_ITEMS || batch.0.len() >= BATCH_BYTES)
            && tx.send(std::mem::replace(&mut batch, new_batch())).is_err()
        {
            break;
        }
        if read == 0 {
            break;
        }
    }
    if !batch.1.is_empty() {
        let _ = tx.send(batch);
    }
    Some(splitter.finish(failure))
}

fn convert(bytes: &[u8], line: u32, interner: &json::Interner) -> Parsed {
    match std::str::from_utf8(bytes) {
        Ok(text) => match json::to_node_shared(text, line, interner) {
            Ok(node) => Parsed::Document(node),
            Err(e) => json::error_at(e, line),
        },
        Err(e) => Parsed::Error {
            line: line + memchr::memchr_iter(b'\n', &bytes[..e.valid_up_to()]).count() as u32,
            message: "not UTF-8 text: Kubernetes manifests must be UTF-8".into(),
        },
    }
}

/// Items first, then what the splitter learnt about the List (header, errors); fills in the
/// List's `apiVersion` and `kind` on items that lack them.
fn assemble(items: Vec<Parsed>, tail: Vec<Parsed>) -> Vec<Parsed> {
    let mut list: Option<(Option<String>, String)> = None;
    let mut rest = Vec::new();
    for p in tail {
        match p {
            Parsed::Document(node) => {
                // The splitter passes the List's top level (without items) as a document.
                if let Some(kind) = node.str_at(&["kind"]) {
                    list = Some((node.str_at(&["apiVersion"]).map(str::to_owned), kind.into()));
                }
            }
            other => rest.push(other),
        }
    }
    let mut out: Vec<Parsed> = Vec::with_capacity(items.len() + rest.len());
    for mut p in items {
        if let (Parsed::Document(node), Some((api_version, kind))) = (&mut p, &list) {
            super::fill_list_item(node, api_version.as_deref(), kind);
        }
        out.push(p);
    }
    out.extend(rest);
    out
}

struct NotAList;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Capture {
    /// An element of the top-level `items` array.
    Item,
    /// Another top-level value (`kind`, `metadata`, the header).
    Top,
}

/// The byte-level state. `buf` holds unconsumed input; every index is into `buf`.
#[derive(Default)]
struct Splitter {
    buf: Vec<u8>,
    pos: usize,
    depth: u32,
    in_string: bool,
    /// A backslash was the last byte of the previous chunk, inside a string.
    escape_pending: bool,
    /// At depth 1, the next string is a key.
    expect_key: bool,
    key_start: Option<usize>,
    key: Vec<u8>,
    /// After a `:` at depth 1, before the value's first byte.
    await_value: bool,
    in_items: bool,
    seen_items: bool,
    capture: Option<(Capture, usize, u32)>,
    /// Open braces of the item being captured, when it is an object: inside one only `"`, `{`
    /// and `}` matter (brackets balance within it), so the scan can jump between them.
    item_braces: u32,
    /// The top-level object has closed.
    closed: bool,
    line_pos: usize,
    line: u32,
    top: Vec<(String, Vec<u8>, u32)>,
    errors: Vec<Parsed>,
}

impl Splitter {
    /// The first byte still needed: an unfinished item, value or key.
    fn keep_from(&self) -> usize {
        let mut keep = self.pos.min(self.buf.len());
        if let Some((_, start, _)) = self.capture {
            keep = keep.min(start);
        }
        if let Some(start) = self.key_start {
            keep = keep.min(start);
        }
        keep
    }

    /// Drops `buf[..n]`, keeping line counting and indices right.
    fn consume(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if self.line == 0 {
            self.line = 1;
        }
        self.line_at(n);
        self.buf.drain(..n);
        self.pos -= n;
        self.line_pos -= n;
        if let Some((_, start, _)) = &mut self.capture {
            *start -= n;
        }
        if let Some(start) = &mut self.key_start {
            *start -= n;
        }
    }

    /// The 1-based line of `buf[at]`; `at` only moves forward.
    fn line_at(&mut self, at: usize) -> u32 {
        if self.line == 0 {
            self.line = 1;
        }
        if at > self.line_pos {
            self.line += memchr::memchr_iter(b'\n', &self.buf[self.line_pos..at]).count() as u32;
            self.line_pos = at;
        }
        self.line
    }

    fn scan(&mut self, batch: &mut Batch) -> Result<(), NotAList> {
        let len = self.buf.len();
        while self.pos < len {
            if self.in_string {
                if self.escape_pending {
                    self.escape_pending = false;
                    self.pos += 1;
                    continue;
                }
                match memchr::memchr2(b'"', b'\\', &self.buf[self.pos..]) {
                    None => self.pos = len,
                    Some(off) => {
                        let at = self.pos + off;
                        if self.buf[at] == b'\\' {
                            if at + 1 < len {
                                self.pos = at + 2;
                            } else {
                                self.escape_pending = true;
                                self.pos = len;
                            }
                        } else {
                            self.in_string = false;
                            if let Some(start) = self.key_start.take() {
                                self.key = self.buf[start..at].to_vec();
                            }
                            self.pos = at + 1;
                        }
                    }
                }
                continue;
            }
            if self.item_braces > 0 {
                // Inside an item object: most of the file. Jump to the next byte that matters.
                match memchr::memchr3(b'"', b'{', b'}', &self.buf[self.pos..]) {
                    None => self.pos = len,
                    Some(off) => {
                        let at = self.pos + off;
                        self.pos = at + 1;
                        match self.buf[at] {
                            b'"' => self.in_string = true,
                            b'{' => self.item_braces += 1,
                            _ => {
                                self.item_braces -= 1;
                                if self.item_braces == 0 {
                                    self.depth = 2;
                                    self.end_item(at, batch);
                                }
                            }
                        }
                    }
                }
                continue;
            }
            let at = self.pos;
            let byte = self.buf[at];
            self.pos += 1;
            if matches!(byte, b' ' | b'\n' | b'\r' | b'\t') {
                continue;
            }
            if self.closed {
                // More after the top-level object: a stream of documents.
                return Err(NotAList);
            }
            if self.depth == 0 && byte != b'{' {
                return Err(NotAList);
            }
            if self.await_value && self.depth == 1 {
                self.await_value = false;
                if self.key == b"items" && byte == b'[' {
                    self.in_items = true;
                    self.seen_items = true;
                } else {
                    let line = self.line_at(at);
                    self.capture = Some((Capture::Top, at, line));
                }
            }
            match byte {
                b'"' => {
                    self.in_string = true;
                    if self.depth == 1 && self.expect_key {
                        self.key_start = Some(at + 1);
                    }
                }
                b'{' | b'[' => {
                    if self.depth == 2 && self.in_items && self.capture.is_none() {
                        let line = self.line_at(at);
                        self.capture = Some((Capture::Item, at, line));
                        if byte == b'{' {
                            self.item_braces = 1;
                        }
                    }
                    if self.depth == 0 {
                        self.expect_key = true;
                    }
                    self.depth += 1;
                }
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    match self.depth {
                        2 if self.in_items => self.end_item(at, batch),
                        1 if self.in_items && byte == b']' => self.in_items = false,
                        0 => {
                            self.finish_top(at)?;
                            self.closed = true;
                        }
                        _ => {}
                    }
                }
                b',' if self.depth == 1 => {
                    self.finish_top(at)?;
                    self.expect_key = true;
                }
                b':' if self.depth == 1 => {
                    self.expect_key = false;
                    self.await_value = true;
                }
                _ => {}
            }
            if let Some((Capture::Top, start, _)) = self.capture
                && at - start > MAX_TOP_VALUE
            {
                return Err(NotAList);
            }
        }
        Ok(())
    }

    /// Ends the captured item at `at` (its closing byte), copying it into the batch.
    fn end_item(&mut self, at: usize, batch: &mut Batch) {
        if let Some((Capture::Item, start, line)) = self.capture {
            let from = batch.0.len();
            batch.0.extend_from_slice(&self.buf[start..=at]);
            batch.1.push((from, batch.0.len(), line));
            self.capture = None;
        }
    }

    /// Ends a top-level value (not `items`) at `end` (exclusive).
    fn finish_top(&mut self, end: usize) -> Result<(), NotAList> {
        if let Some((Capture::Top, start, line)) = self.capture.take() {
            let key = String::from_utf8_lossy(&self.key).into_owned();
            let value = self.buf[start..end].trim_ascii_end().to_vec();
            self.top.push((key, value, line));
        }
        Ok(())
    }

    /// The List's top level as documents: a document holding `apiVersion`/`kind`, the header,
    /// and any structural error.
    fn finish(mut self, failure: Option<Parsed>) -> Vec<Parsed> {
        let mut out = Vec::new();
        let end_line = {
            let len = self.buf.len();
            self.line_at(len)
        };
        if let Some(failure) = failure {
            out.push(failure);
        } else if !self.closed || self.in_string {
            out.push(Parsed::Error {
                line: end_line,
                message: "invalid JSON: the file ends inside the List (truncated?); items before \
                          this point were read"
                    .into(),
            });
        }
        if !self.seen_items && self.closed {
            out.push(Parsed::Error {
                line: 1,
                message:
                    "a large JSON object without `items`: only Lists are read in streaming mode"
                        .into(),
            });
        }
        let mut fields = Vec::new();
        for (key, value, line) in std::mem::take(&mut self.top) {
            let text = String::from_utf8_lossy(&value);
            if key == super::snapshot::KEY {
                out.push(Parsed::Header {
                    line,
                    json: text.into_owned(),
                });
            } else if key == "apiVersion" || key == "kind" {
                match json::to_node(&text, line) {
                    Ok(node) => fields.push((key.into(), node)),
                    Err(e) => out.push(json::error_at(e, line)),
                }
            }
        }
        if !fields.is_empty() {
            out.push(Parsed::Document(crate::node::Node::new(
                1,
                crate::node::Value::Map(fields.into()),
            )));
        }
        out.append(&mut self.errors);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out `step` bytes at a time: exercises every chunk boundary.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let n = self.step.min(self.data.len()).min(out.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn documents(streamed: Streamed) -> Vec<Parsed> {
        match streamed {
            Streamed::Done(out) => out,
            Streamed::NotAList => panic!("expected a List"),
        }
    }

    const LIST: &str = "{\n    \"apiVersion\": \"v1\",\n    \"hindsight\": {\"context\": \"c\"},\n    \"items\": [\n        {\n            \"metadata\": {\"name\": \"a\\\"}{[\", \"managedFields\": [{}]}\n        },\n        {\"metadata\": {\"name\": \"b\"}}\n    ],\n    \"kind\": \"PodList\",\n    \"metadata\": {\"resourceVersion\": \"1\"}\n}\n";

    #[test]
    fn same_result_as_the_whole_text_path_at_any_chunking() {
        let whole = json::parse_stream(LIST);
        for step in [1, 2, 3, 7, 64, 4096] {
            let out = documents(parse_reader(Trickle {
                data: LIST.as_bytes(),
                step,
            }));
            let names: Vec<(Option<&str>, Option<&str>, u32)> = out
                .iter()
                .filter_map(|p| match p {
                    Parsed::Document(n) => {
                        Some((n.str_at(&["metadata", "name"]), n.str_at(&["kind"]), n.line))
                    }
                    _ => None,
                })
                .collect();
            assert_eq!(
                names,
                [
                    (Some("a\"}{["), Some("Pod"), 5),
                    (Some("b"), Some("Pod"), 8)
                ],
                "step {step}"
            );
            assert!(out.iter().any(
                |p| matches!(p, Parsed::Header { line: 3, json } if json == "{\"context\": \"c\"}")
            ));
            let whole_docs = whole
                .iter()
                .filter(|p| matches!(p, Parsed::Document(_)))
                .count();
            assert_eq!(whole_docs, 2);
        }
    }

    #[test]
    fn streams_and_arrays_fall_back() {
        let stream = "{\"kind\": \"A\"}\n{\"kind\": \"B\"}\n";
        assert!(matches!(
            parse_reader(stream.as_bytes()),
            Streamed::NotAList
        ));
        assert!(matches!(parse_reader(&b"[1]"[..]), Streamed::NotAList));
    }

    #[test]
    fn a_broken_item_costs_only_itself_and_truncation_is_reported() {
        let src = "{\"kind\": \"List\", \"items\": [\n{\"kind\": \"Pod\", \"apiVersion\": \"v1\", \"x\": tru},\n{\"kind\": \"Pod\", \"apiVersion\": \"v1\"},\n{\"kind\": \"Pod\"";
        let out = documents(parse_reader(src.as_bytes()));
        let docs = out
            .iter()
            .filter(|p| matches!(p, Parsed::Document(_)))
            .count();
        let errors: Vec<u32> = out
            .iter()
            .filter_map(|p| match p {
                Parsed::Error { line, .. } => Some(*line),
                _ => None,
            })
            .collect();
        assert_eq!(docs, 1);
        assert_eq!(errors, [2, 4]);
    }
}
