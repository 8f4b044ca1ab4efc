//! The template parser, both syntaxes (`{text_a} It was {mask}.` and OpenPrompt's
//! `{"placeholder":"text_a"} It was {"mask"}.`), as `--template` reaches it: any UTF-8 string.
//! A template that parses must also print back as OpenPrompt and pass the CLI's checks.
#![no_main]
use cloze::template::Template;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else { return };
    for parsed in [Template::parse(src), Template::parse_text(src), Template::parse_openprompt(src)] {
        let Ok(t) = parsed else { continue };
        let _ = t.check_classification();
        let _ = t.check_fields(&["text_a", "text_b", "label"]);
        let _ = (t.mask_count(), t.soft_token_count(), t.fields().count(), t.segments().len());
        let printed = t.to_openprompt();
        let _ = Template::parse(&printed);
    }
});
