//! Property tests for the loader: whatever the bytes, it never panics, and a valid stream cut
//! anywhere still yields every document before the cut.

use proptest::prelude::*;
use std::sync::Arc;

use hindsight::load::load_bytes;

const STREAM: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata: {k: v}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: b\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n      - name: c\n        image: x\n---\napiVersion: v1\nkind: Service\nmetadata: {name: c}\nspec: {selector: {app: c}}\n";

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = load_bytes(Arc::from("x.yaml"), &bytes, None);
        let _ = load_bytes(Arc::from("x.json"), &bytes, Some(std::path::Path::new("x.json")));
    }

    #[test]
    fn yaml_like_text_never_panics(text in "[a-z:\\-\\[\\]{}&*!|>'\" \n#0-9.]{0,300}") {
        let _ = load_bytes(Arc::from("x.yaml"), text.as_bytes(), None);
    }

    #[test]
    fn a_cut_stream_keeps_the_documents_before_the_cut(cut in 0..STREAM.len()) {
        let prefix = &STREAM[..cut];
        let loaded = load_bytes(Arc::from("x.yaml"), prefix.as_bytes(), None);
        // Documents that end before the cut (their `---` successor is inside the prefix).
        let complete = prefix.matches("\n---\n").count();
        prop_assert!(loaded.objects.len() >= complete,
            "cut at {cut}: {} objects, {} complete documents, errors {:?}", loaded.objects.len(), complete, loaded.errors);
        for (i, o) in loaded.objects.iter().take(complete).enumerate() {
            prop_assert_eq!(&o.name, ["a", "b", "c"][i]);
        }
    }

    #[test]
    fn any_interleaving_of_broken_documents_keeps_the_good_ones(broken in proptest::collection::vec(any::<bool>(), 1..8)) {
        let mut src = String::new();
        for (i, bad) in broken.iter().enumerate() {
            if *bad {
                src.push_str("---\nkind: [\n");
            } else {
                src.push_str(&format!("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm{i}}}\n"));
            }
        }
        let loaded = load_bytes(Arc::from("x.yaml"), src.as_bytes(), None);
        prop_assert_eq!(loaded.objects.len(), broken.iter().filter(|b| !**b).count());
        prop_assert_eq!(loaded.errors.len(), broken.iter().filter(|b| **b).count());
    }
}

/// Issue 3 names `argo-cd/manifests/install.yaml` (1.9 MB of CRDs in one stream): every document
/// loads, none is an error. Reads `../shared`; skipped with a notice when it is absent.
#[test]
fn large_crd_stream_from_the_real_corpus_loads_whole() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Some(path) = ["../shared", "../../shared"]
        .iter()
        .map(|s| {
            root.join(s)
                .join("corpus/real/argo-cd/manifests/install.yaml")
        })
        .find(|p| p.is_file())
    else {
        println!("notice: ../shared/corpus/real not found; test skipped");
        return;
    };
    let bytes = std::fs::read(&path).expect("read install.yaml");
    let loaded = load_bytes(Arc::from("install.yaml"), &bytes, Some(&path));
    assert!(loaded.errors.is_empty(), "{:?}", loaded.errors);
    let crds = loaded
        .objects
        .iter()
        .filter(|o| o.kind == "CustomResourceDefinition")
        .count();
    // Counted independently: one `kind:` line at column 0 per document in this file.
    let text = String::from_utf8_lossy(&bytes);
    let documents = text.lines().filter(|l| l.starts_with("kind: ")).count();
    assert_eq!(loaded.objects.len(), documents);
    assert!(crds >= 3, "{crds} CRDs");
}
