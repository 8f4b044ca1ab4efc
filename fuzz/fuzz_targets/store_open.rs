//! The project opener, as `cloze project status FILE` uses it: open the file as a project, then
//! read what status prints. Any file that is not a sound Cloze Studio project must be refused
//! with an error, never panic, abort or hang.
#![no_main]
use cloze::store::Store;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let path = cloze_fuzz::write_input("store", "project.cloze", data);
    let Ok(store) = Store::open(&path) else { return };
    let _ = store.schema_version();
    let Ok(datasets) = store.datasets() else { return };
    for d in &datasets {
        let _ = store.split_counts(d.id);
        let Ok(sets) = store.label_sets(d.id) else { continue };
        for set in &sets {
            let _ = store.label_counts(set.id);
            let _ = store.human_labels_by_row(set.id);
            let _ = store.runs(set.id);
        }
    }
});
