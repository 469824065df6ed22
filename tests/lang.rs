//! Integration tests of the configuration language: every fixture under
//! `testdata/lang`, the examples, inputs, outputs, policy rules, formatting
//! and robustness against malformed input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tenancy::lang::{self, RenderOptions, VarInputs};
use tenancy_sdk::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn case_dirs(group: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root().join("testdata/lang").join(group))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn inputs() -> VarInputs {
    VarInputs::default()
}

fn render(sources: &lang::SourceMap, diagnostics: &lang::Diagnostics) -> String {
    diagnostics.render(sources, RenderOptions { color: false, width: 100 })
}

#[test]
fn valid_cases_load_without_errors() {
    let dirs = case_dirs("valid");
    assert!(!dirs.is_empty());
    for dir in dirs {
        match lang::load(&dir, &inputs()) {
            Ok(config) => assert!(config.warnings.is_empty(), "{}:\n{}", dir.display(), render(&config.sources, &config.warnings)),
            Err(failure) => panic!("{}:\n{}", dir.display(), render(&failure.sources, &failure.diagnostics)),
        }
    }
}

#[test]
fn invalid_cases_match_snapshots() {
    let dirs = case_dirs("invalid");
    assert!(!dirs.is_empty());
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let failure = match lang::load(&dir, &inputs()) {
            Ok(_) => panic!("{name}: loaded without errors"),
            Err(failure) => failure,
        };
        let rendered = render(&failure.sources, &failure.diagnostics);
        insta::with_settings!({
            snapshot_path => root().join("testdata/lang/snapshots"),
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name.as_str(), rendered);
        });
    }
}

#[test]
fn every_invalid_case_has_a_snapshot() {
    for dir in case_dirs("invalid") {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let snapshot = root().join(format!("testdata/lang/snapshots/{name}.snap"));
        let pending = root().join(format!("testdata/lang/snapshots/{name}.snap.new"));
        assert!(snapshot.exists() || pending.exists(), "no snapshot for {name}");
    }
}

#[test]
fn examples_load_without_errors() {
    let Ok(entries) = std::fs::read_dir(root().join("examples")) else {
        return;
    };
    let mut dirs: Vec<PathBuf> = entries.map(|entry| entry.unwrap().path()).filter(|path| path.is_dir()).collect();
    dirs.sort();
    for dir in dirs {
        let has_hcl = std::fs::read_dir(&dir)
            .unwrap()
            .any(|entry| entry.unwrap().path().extension().is_some_and(|extension| extension == "hcl"));
        if !has_hcl {
            continue;
        }
        if let Err(failure) = lang::load(&dir, &inputs()) {
            panic!("{}:\n{}", dir.display(), render(&failure.sources, &failure.diagnostics));
        }
    }
}

fn load_full() -> tenancy::config::Config {
    let dir = root().join("testdata/lang/valid/full");
    lang::load(&dir, &inputs()).unwrap_or_else(|failure| panic!("{}", render(&failure.sources, &failure.diagnostics)))
}

#[test]
fn full_case_decodes_every_block() {
    let config = load_full();

    assert_eq!(config.settings.parallelism, Some(4));
    assert_eq!(config.settings.state.as_ref().map(|state| state.kind.as_str()), Some("local"));
    assert_eq!(config.providers.iter().map(|provider| provider.instance()).collect::<Vec<_>>(), ["postgres", "postgres.eu", "sqlite"]);
    assert_eq!(config.providers[2].attrs["directory"], Value::string("/srv/tenants"));
    assert!(config.providers[0].attrs["password"].is_sensitive());
    assert_eq!(config.tiers.len(), 2);
    assert_eq!(config.resources.len(), 1);
    assert_eq!(config.resources[0].provider.as_deref(), Some("postgres"));
    assert_eq!(config.resources[0].depends_on, ["tenant.globex"]);
    assert_eq!(config.outputs.len(), 3);
    assert_eq!(config.moved[0].from, "tenant.globex_old");
    assert_eq!(config.policies.len(), 2);
}

#[test]
fn tier_attributes_have_defaults_and_limits() {
    let config = load_full();
    let starter = &config.tiers[0];
    let enterprise = &config.tiers[1];

    assert_eq!(starter.attrs["billing_cycle"], Value::string("monthly"));
    assert_eq!(starter.attrs["trial_days"], Value::Number(0.0));
    assert_eq!(starter.attrs["limits"], Value::map(BTreeMap::new()));
    assert_eq!(starter.attrs["usage_prices"], Value::map(BTreeMap::new()));
    let limits = enterprise.attrs["limits"].as_map().unwrap();
    assert_eq!(limits["seats"], Value::Number(500.0));
    assert_eq!(enterprise.attrs["features"], Value::list(vec!["api".into(), "audit".into(), "sso".into()]));
}

#[test]
fn for_each_tenants_expand_in_key_order() {
    let config = load_full();
    let addresses: Vec<String> = config.tenants.iter().map(|tenant| tenant.address()).collect();

    assert_eq!(
        addresses,
        [
            "tenant.globex",
            "tenant.studios[\"berlin\"]",
            "tenant.studios[\"paris\"]",
            "tenant.local_dev[\"alpha\"]",
            "tenant.local_dev[\"beta\"]",
        ]
    );
    let paris = &config.tenants[2];
    assert_eq!(paris.id, "studios_paris");
    assert_eq!(paris.attrs["status"], Value::string("suspended"));
    assert_eq!(paris.attrs["region"], Value::string("eu-west-3"));
    assert_eq!(paris.attrs["depends_on"], Value::list(vec!["tenant.globex".into()]));
    assert_eq!(config.tenants[3].id, "dev_alpha");
    assert_eq!(config.tenants[3].attrs["name"], Value::string("ALPHA"));
}

#[test]
fn tenant_components_carry_provider_and_defaults() {
    let config = load_full();
    let globex = &config.tenants[0];

    assert_eq!(globex.tier, "enterprise");
    assert_eq!(globex.security_policy.as_deref(), Some("strict"));
    assert_eq!(globex.attrs["name"], Value::string("Globex Staging"));
    let postgres = &globex.components[0];
    assert_eq!(postgres.provider.as_deref(), Some("postgres.eu"));
    assert_eq!(postgres.attrs["database"], Value::string("tenancy_shared"));
    let monitoring = globex.components.iter().find(|component| component.label == "default").unwrap();
    assert_eq!(monitoring.attrs["metrics_retention_days"], Value::Number(30.0));
    assert_eq!(monitoring.attrs["enabled"], Value::Bool(true));
    let sqlite = &config.tenants[1].components[0];
    assert_eq!(sqlite.attrs["isolation"], Value::string("database"));
}

#[test]
fn locals_evaluate_templates_and_for_expressions() {
    let config = load_full();

    assert_eq!(config.locals["prefix"], Value::string("tny-staging"));
    assert_eq!(config.locals["eu_regions"], Value::list(vec!["eu-central-1".into(), "eu-west-3".into()]));
    assert_eq!(config.locals["seat_counts"].as_map().unwrap()["paris"], Value::Number(5.0));
    assert_eq!(config.locals["banner"], Value::string("Environment: STAGING\nstudio berlin\nstudio paris\n"));
}

#[test]
fn var_flag_overrides_var_file_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), "variable \"size\" {\n  type = number\n}\nvariable \"name\" {}\n").unwrap();
    let var_file = dir.path().join("values.tfvars");
    std::fs::write(&var_file, "size = 2\nname = \"from-file\"\n").unwrap();
    let mut inputs = VarInputs {
        vars: vec![("size".into(), "3".into())],
        var_files: vec![var_file],
        env: vec![("TENANCY_VAR_size".into(), "1".into()), ("TENANCY_VAR_name".into(), "from-env".into())],
    };

    let config = lang::load(dir.path(), &inputs).unwrap();
    assert_eq!(config.variables["size"].value, Value::Number(3.0));
    assert_eq!(config.variables["name"].value, Value::string("from-file"));

    inputs.vars.clear();
    inputs.var_files.clear();
    let config = lang::load(dir.path(), &inputs).unwrap();
    assert_eq!(config.variables["size"].value, Value::Number(1.0));
    assert_eq!(config.variables["name"].value, Value::string("from-env"));
}

#[test]
fn undeclared_var_flag_is_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), "variable \"size\" {\n  default = 1\n}\n").unwrap();
    let inputs = VarInputs { vars: vec![("sise".into(), "3".into())], ..VarInputs::default() };

    let failure = lang::load(dir.path(), &inputs).unwrap_err();
    let rendered = render(&failure.sources, &failure.diagnostics);
    assert!(rendered.contains("Value for undeclared variable"), "{rendered}");
    assert!(rendered.contains("Did you mean `size`?"), "{rendered}");
}

#[test]
fn missing_required_variable_is_error() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), "variable \"token\" {\n  type = string\n}\n").unwrap();

    let failure = lang::load(dir.path(), &inputs()).unwrap_err();
    let rendered = render(&failure.sources, &failure.diagnostics);
    assert!(rendered.contains("No value for required variable"), "{rendered}");
    assert!(rendered.contains("TENANCY_VAR_token"), "{rendered}");
}

#[test]
fn sensitive_variable_stays_sensitive_in_attributes() {
    let dir = tempfile::tempdir().unwrap();
    let text = "variable \"secret\" {\n  sensitive = true\n  default = \"hunter2\"\n}\n\
                tier \"pro\" {\n  price = 1\n  currency = \"EUR\"\n  description = \"key: ${upper(var.secret)}\"\n}\n";
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();

    let config = lang::load(dir.path(), &inputs()).unwrap();
    let description = &config.tiers[0].attrs["description"];
    assert!(description.is_sensitive());
    assert_eq!(description.unmarked(), &Value::string("key: HUNTER2"));
}

#[test]
fn outputs_evaluate_against_tenant_values() {
    let config = load_full();
    let tenants = lang::tenants_value(&config);

    let outputs = lang::evaluate_outputs(&config, &tenants).unwrap();
    let by_name: BTreeMap<_, _> = outputs.into_iter().collect();
    assert_eq!(by_name["globex_id"], Value::string("globex"));
    let regions = by_name["studio_regions"].as_map().unwrap();
    assert_eq!(regions["berlin"], Value::string("eu-central-1"));
    assert!(by_name["password"].is_sensitive());
}

#[test]
fn outputs_with_unknown_tenant_values_are_unknown() {
    let config = load_full();
    let mut tenants = lang::tenants_value(&config);
    if let Value::Map(map) = &mut tenants {
        if let Some(Value::Map(globex)) = map.get_mut("globex") {
            globex.insert("id".into(), Value::Unknown);
        }
    }

    let outputs = lang::evaluate_outputs(&config, &tenants).unwrap();
    assert_eq!(outputs[0].1, Value::Unknown);
}

#[test]
fn policy_rules_report_each_breaking_tenant() {
    let config = load_full();

    let diagnostics = lang::evaluate_policy_rules(&config);
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    assert_eq!(diagnostics.len(), 1, "{diagnostics}");
    let rendered = render(&config.sources, &diagnostics);
    assert!(rendered.contains("Tenant studios_paris is suspended."), "{rendered}");
    assert!(rendered.contains("tenant.studios[\"paris\"]"), "{rendered}");
}

#[test]
fn errors_of_several_files_are_reported_together() {
    let failure = lang::load(&root().join("testdata/lang/invalid/several_files"), &inputs()).unwrap_err();
    let files: Vec<String> = failure
        .diagnostics
        .iter()
        .filter_map(|diagnostic| diagnostic.primary_span())
        .map(|span| failure.sources.files[span.file].path.display().to_string())
        .collect();

    assert!(files.contains(&"a.hcl".to_owned()), "{files:?}");
    assert!(files.contains(&"b.hcl".to_owned()), "{files:?}");
    assert!(files.contains(&"c.hcl".to_owned()), "{files:?}");
}

#[test]
fn missing_directory_is_error() {
    let failure = lang::load(Path::new("/nonexistent/tenancy-config"), &inputs()).unwrap_err();
    assert!(failure.diagnostics.has_errors());
}

#[test]
fn format_is_idempotent_on_fixtures() {
    for dir in case_dirs("valid").into_iter().chain(case_dirs("invalid")) {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let Ok(once) = lang::format_source(&text) else { continue };
            let twice = lang::format_source(&once).unwrap();
            assert_eq!(once, twice, "{}", path.display());
        }
    }
}

#[test]
fn formatted_fixtures_load_the_same() {
    for dir in case_dirs("valid") {
        let copy = tempfile::tempdir().unwrap();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let formatted = lang::format_source(&std::fs::read_to_string(&path).unwrap()).unwrap();
            std::fs::write(copy.path().join(path.file_name().unwrap()), formatted).unwrap();
        }
        let original = lang::load(&dir, &inputs()).unwrap();
        let reformatted = lang::load(copy.path(), &inputs()).unwrap();
        assert_eq!(original.locals, reformatted.locals, "{}", dir.display());
        assert_eq!(original.tenants.len(), reformatted.tenants.len(), "{}", dir.display());
    }
}

#[test]
fn format_dir_check_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("main.hcl");
    std::fs::write(&path, "tier \"pro\" {\nprice=1\ncurrency = \"EUR\"\n}\n").unwrap();

    let results = lang::format_dir(dir.path(), true).unwrap();
    assert!(results[0].changed);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), results[0].original);

    lang::format_dir(dir.path(), false).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "tier \"pro\" {\n  price    = 1\n  currency = \"EUR\"\n}\n");
    assert!(!lang::format_dir(dir.path(), true).unwrap()[0].changed);
}

#[test]
fn format_dir_reports_syntax_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), "tier \"pro\" {\n").unwrap();

    let failure = lang::format_dir(dir.path(), true).unwrap_err();
    assert!(matches!(failure, lang::FormatFailure::Diagnostics(_, _)));
}

/// A small deterministic generator, so that the robustness test needs no
/// extra crate and fails the same way on every run.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

const FRAGMENTS: &[&str] = &[
    "{", "}", "[", "]", "(", ")", "\"", "${", "%{", "=", "\n", " ", "for_each", "each.key", "tier.pro",
    "var.x", "local.y", "<<EOT\n", "EOT\n", "#", "/*", "*/", "~", "...", "[*]", ".*", "1e309", "-", "!",
    "?", ":", "=>", "null", "é", "☕", "\u{0}", "\r\n", "format(\"%999999d\", 1)", "range(1e9)",
    "regex(\"(\", \"x\")", "jsondecode(\"[[[[\")", "tenant.acme", "try(", "can(",
];

fn mutate(text: &str, random: &mut Lcg) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..=random.below(4) {
        let position = random.below(chars.len() + 1);
        match random.below(3) {
            0 if !chars.is_empty() => {
                let end = (position + random.below(8)).min(chars.len());
                chars.drain(position.min(chars.len())..end);
            }
            1 => {
                let fragment = FRAGMENTS[random.below(FRAGMENTS.len())];
                for (offset, ch) in fragment.chars().enumerate() {
                    chars.insert((position + offset).min(chars.len()), ch);
                }
            }
            _ => chars.truncate(position),
        }
    }
    chars.into_iter().collect()
}

#[test]
fn mutated_inputs_never_panic() {
    let mut seeds = Vec::new();
    for dir in case_dirs("valid").into_iter().chain(case_dirs("invalid")) {
        for entry in std::fs::read_dir(&dir).unwrap() {
            seeds.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    let mut random = Lcg(0x7e4a_4c79);
    for round in 0..1500 {
        let seed = &seeds[round % seeds.len()];
        let text = mutate(seed, &mut random);
        let diagnostics = lang::check_source(&text);
        let mut sources = lang::SourceMap::default();
        sources.add("main.hcl".into(), text.as_str());
        let _ = diagnostics.render(&sources, RenderOptions { color: true, width: 80 });
        if let Ok(formatted) = lang::format_source(&text) {
            assert_eq!(lang::format_source(&formatted).as_deref(), Ok(formatted.as_str()), "round {round}:\n{text}");
        }
    }
}

#[test]
fn deep_nesting_is_an_error() {
    for depth in [100, 10_000, 200_000] {
        let text = format!("locals {{\n  x = {}1{}\n}}\n", "[".repeat(depth), "]".repeat(depth));
        assert!(lang::check_source(&text).has_errors(), "depth {depth}");
        let text = format!("locals {{\n  x = {}1{}\n}}\n", "(".repeat(depth), ")".repeat(depth));
        assert!(lang::check_source(&text).has_errors(), "depth {depth}");
    }
    let chain = format!("locals {{\n  x = 1{}\n}}\n", " + 1".repeat(100_000));
    let _ = lang::check_source(&chain);
}

#[test]
fn binary_and_huge_inputs_do_not_panic() {
    let binary: String = (0u8..=255).map(char::from).collect();
    let _ = lang::check_source(&binary);

    let mut huge = String::new();
    huge.push_str("tier \"pro\" {\n  price = 1\n  currency = \"EUR\"\n}\n");
    for index in 0..3000 {
        huge.push_str(&format!(
            "tenant \"t{index}\" {{\n  name = \"Tenant {index}\"\n  tier = tier.pro\n  region = \"local\"\n}}\n"
        ));
    }
    let diagnostics = lang::check_source(&huge);
    assert!(!diagnostics.has_errors(), "{diagnostics}");
}

#[test]
fn non_utf8_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), b"tier \"pro\" {\n  price = \xff\n}\n").unwrap();

    let failure = lang::load(dir.path(), &inputs()).unwrap_err();
    let rendered = render(&failure.sources, &failure.diagnostics);
    assert!(rendered.contains("File is not valid UTF-8"), "{rendered}");
}

fn load_text(text: &str) -> Result<tenancy::config::Config, lang::LoadFailure> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    lang::load(dir.path(), &inputs())
}

#[test]
fn local_state_accepts_lock_timeout() {
    for timeout in ["\"30s\"", "45"] {
        let text = format!("tenancy {{\n  state \"local\" {{\n    path = \"s.json\"\n    lock_timeout = {timeout}\n  }}\n}}\n");

        let config = load_text(&text).unwrap_or_else(|failure| panic!("{}", render(&failure.sources, &failure.diagnostics)));

        let state = config.settings.state.unwrap();
        assert!(state.attrs.contains_key("lock_timeout"), "{timeout}");
    }
}

#[test]
fn local_state_rejects_encryption_key() {
    let text = "tenancy {\n  state \"local\" {\n    encryption_key = \"k\"\n  }\n}\n";

    let failure = load_text(text).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert!(rendered.contains("`encryption_key` is not an attribute of `state \"local\"`"), "{rendered}");
}

#[test]
fn local_state_rejects_bad_lock_timeout() {
    let text = "tenancy {\n  state \"local\" {\n    lock_timeout = \"soon\"\n  }\n}\n";

    let failure = load_text(text).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert!(rendered.contains("Invalid attribute value"), "{rendered}");
    assert!(rendered.contains("\"30s\""), "{rendered}");
}

const FAILED_VARIABLE_CONFIG: &str = r#"
variable "env" {
  type = string
  validation {
    condition     = contains(["dev", "staging"], var.env)
    error_message = "The environment must be dev or staging."
  }
}

variable "owner" {
  type    = object({ name = string })
  default = { name = "ops" }
}

locals {
  prefix = "${var.env}-app"
  label  = "${local.prefix}-${var.owner.name}"
}

tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "acme" {
  name   = "Acme ${var.env}"
  tier   = tier.pro
  region = "eu-central-1"
  labels = { env = var.env, label = local.label, owner = var.owner.name }
}
"#;

fn load_with_vars(text: &str, vars: &[(&str, &str)]) -> Result<tenancy::config::Config, lang::LoadFailure> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    let vars = vars.iter().map(|(name, value)| (name.to_string(), value.to_string())).collect();
    lang::load(dir.path(), &VarInputs { vars, ..VarInputs::default() })
}

fn codes(failure: &lang::LoadFailure) -> Vec<&str> {
    failure.diagnostics.iter().map(|diagnostic| diagnostic.code.as_str()).collect()
}

#[test]
fn failed_validation_is_reported_once() {
    let failure = load_with_vars(FAILED_VARIABLE_CONFIG, &[("env", "prod")]).unwrap_err();

    assert_eq!(codes(&failure), ["tenancy::config::validation_failed"], "{}", render(&failure.sources, &failure.diagnostics));
}

#[test]
fn failed_conversion_is_reported_once() {
    let failure = load_with_vars(FAILED_VARIABLE_CONFIG, &[("env", "dev"), ("owner", "{extra = 1}")]).unwrap_err();

    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{}", render(&failure.sources, &failure.diagnostics));
}

#[test]
fn missing_variable_is_reported_once() {
    let failure = load_with_vars(FAILED_VARIABLE_CONFIG, &[]).unwrap_err();

    assert_eq!(codes(&failure), ["tenancy::config::missing_variable"], "{}", render(&failure.sources, &failure.diagnostics));
}

#[test]
fn failed_variable_keeps_unrelated_errors() {
    let text = format!("{FAILED_VARIABLE_CONFIG}\nlocals {{\n  other = local.nothing\n}}\n");

    let failure = load_with_vars(&text, &[("env", "prod")]).unwrap_err();

    assert_eq!(
        codes(&failure),
        ["tenancy::config::validation_failed", "tenancy::expr::unknown_reference"],
        "{}",
        render(&failure.sources, &failure.diagnostics)
    );
}

const TYPED_VARIABLES: &str = r#"
variable "seats" {
  type = number
}

variable "regions" {
  type    = list(string)
  default = []
}

variable "token" {
  type      = number
  sensitive = true
  default   = 1
}
"#;

#[test]
fn bare_word_for_number_is_invalid_value() {
    let failure = load_with_vars(TYPED_VARIABLES, &[("seats", "abc")]).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    assert!(rendered.contains("Invalid value for variable"), "{rendered}");
    assert!(rendered.contains("`abc` is not a value of type number"), "{rendered}");
    assert!(rendered.contains("`seats` is declared with type number"), "{rendered}");
    assert!(rendered.contains("-var 'seats=3'"), "{rendered}");
    assert!(!rendered.contains("Unknown reference"), "{rendered}");
}

#[test]
fn unquoted_list_element_is_invalid_value() {
    let failure = load_with_vars(TYPED_VARIABLES, &[("seats", "2"), ("regions", "[eu, us]")]).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    let help = failure.diagnostics.iter().next().and_then(|diagnostic| diagnostic.help.clone()).unwrap_or_default();
    assert!(help.contains("strings inside it need double quotes"), "{help}");
    assert!(help.contains(r#"-var 'regions=["eu", "us"]'"#), "{help}");
}

#[test]
fn unparsable_number_is_invalid_value() {
    let failure = load_with_vars(TYPED_VARIABLES, &[("seats", "3 +")]).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    assert!(rendered.contains("`3 +` is not a value of type number"), "{rendered}");
}

#[test]
fn invalid_sensitive_input_is_not_shown() {
    let failure = load_with_vars(TYPED_VARIABLES, &[("seats", "1"), ("token", "s3cret")]).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    assert!(!rendered.contains("s3cret"), "{rendered}");
}

const SENSITIVE_VARIABLES: &str = r#"
variable "code" {
  type      = string
  sensitive = true

  validation {
    condition     = length(var.code) < 4
    error_message = "The code is too long."
  }
}

variable "pins" {
  type      = list(number)
  sensitive = true
  default   = []
}
"#;

fn load_with_inputs(text: &str, inputs: VarInputs) -> lang::LoadFailure {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), text).unwrap();
    let inputs = VarInputs {
        var_files: inputs.var_files.iter().map(|name| dir.path().join(name)).collect(),
        ..inputs
    };
    for name in &inputs.var_files {
        std::fs::write(name, "code = \"hunter2n\"\npins = [\"hunter2n\"]\n").unwrap();
    }
    lang::load(dir.path(), &inputs).unwrap_err()
}

#[test]
fn sensitive_input_errors_do_not_show_value() {
    let flags = VarInputs {
        vars: vec![("code".into(), "hunter2n".into()), ("pins".into(), r#"["hunter2n"]"#.into())],
        ..VarInputs::default()
    };
    let environment = VarInputs {
        env: vec![("TENANCY_VAR_code".into(), "hunter2n".into()), ("TENANCY_VAR_pins".into(), r#"["hunter2n"]"#.into())],
        ..VarInputs::default()
    };
    let var_file = VarInputs { var_files: vec!["secret.tfvars".into()], ..VarInputs::default() };

    for (source, inputs) in [("-var", flags), ("environment", environment), ("-var-file", var_file)] {
        let failure = load_with_inputs(SENSITIVE_VARIABLES, inputs);

        let rendered = render(&failure.sources, &failure.diagnostics);
        assert_eq!(
            codes(&failure),
            ["tenancy::config::validation_failed", "tenancy::config::invalid_variable_value"],
            "{source}: {rendered}"
        );
        assert!(!rendered.contains("hunter2n"), "{source}: {rendered}");
        assert!(rendered.contains("The code is too long."), "{source}: {rendered}");
        assert!(rendered.contains("is not of type list(number)"), "{source}: {rendered}");
    }
}

#[test]
fn sensitive_input_eval_error_hidden() {
    let inputs = VarInputs { vars: vec![("pins".into(), r#"[1][7 + "hunter2n"]"#.into())], ..VarInputs::default() };

    let failure = load_with_inputs(SENSITIVE_VARIABLES.replace("type      = string", "default = \"x\"").as_str(), inputs);

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    assert!(!rendered.contains("hunter2n"), "{rendered}");
}

#[test]
fn invalid_input_does_not_fall_back_to_default() {
    let failure = load_with_vars(TYPED_VARIABLES, &[("seats", "1"), ("regions", "eu")]).unwrap_err();

    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{}", render(&failure.sources, &failure.diagnostics));
}

#[test]
fn invalid_environment_input_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.hcl"), TYPED_VARIABLES).unwrap();
    let inputs = VarInputs { env: vec![("TENANCY_VAR_seats".into(), "many".into())], ..VarInputs::default() };

    let failure = lang::load(dir.path(), &inputs).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    assert_eq!(codes(&failure), ["tenancy::config::invalid_variable_value"], "{rendered}");
    assert!(rendered.contains("TENANCY_VAR_seats='3'"), "{rendered}");
}

#[test]
fn typed_inputs_parse_as_expressions() {
    let config = load_with_vars(TYPED_VARIABLES, &[("seats", "3"), ("regions", r#"["eu", "us"]"#)]).unwrap();

    assert_eq!(config.variables["seats"].value, Value::Number(3.0));
    assert_eq!(config.variables["regions"].value, Value::list(vec!["eu".into(), "us".into()]));
}

const UNKNOWN_ENGINE: &str = "  database \"postgresql\" {}\n";

const PRO_TIER: &str = "tier \"pro\" {\n  price    = 10\n  currency = \"EUR\"\n}\n\n";

/// Returns a configuration with one tenant that has an unknown database
/// engine, and `lines` added to the top of the tenant block.
fn tenant_with(header: &str, lines: &str) -> String {
    let common = "  name   = \"Acme\"\n  tier   = tier.pro\n  region = \"eu-central-1\"\n";
    format!("{PRO_TIER}tenant {header} {{\n{lines}{common}{UNKNOWN_ENGINE}}}\n")
}

fn assert_reports_engine_with(text: &str, other_code: &str) {
    let failure = load_text(text).unwrap_err();

    let rendered = render(&failure.sources, &failure.diagnostics);
    let codes = codes(&failure);
    assert!(codes.contains(&other_code), "{rendered}");
    assert!(codes.contains(&"tenancy::config::unknown_database_engine"), "{rendered}");
    assert!(rendered.contains("Did you mean `postgres`?"), "{rendered}");
}

#[test]
fn engine_reported_with_invalid_tenant_id() {
    assert_reports_engine_with(&tenant_with("\"Acme\"", ""), "tenancy::config::invalid_tenant_id");
}

#[test]
fn engine_reported_with_unknown_policy() {
    let text = tenant_with("\"acme\"", "  security_policy = security_policy.strict\n");

    assert_reports_engine_with(&text, "tenancy::expr::unknown_reference");
}

#[test]
fn engine_reported_with_failed_for_each() {
    let text = tenant_with("\"studios\"", "  for_each = local.studios\n");

    assert_reports_engine_with(&text, "tenancy::expr::unknown_reference");
}

#[test]
fn engine_reported_with_empty_for_each() {
    let failure = load_text(&tenant_with("\"studios\"", "  for_each = {}\n")).unwrap_err();

    assert_eq!(codes(&failure), ["tenancy::config::unknown_database_engine"]);
}

#[test]
fn empty_for_each_with_element_values_loads() {
    let text = format!(
        "{PRO_TIER}tenant \"studios\" {{\n  for_each = {{}}\n  id     = each.value.id\n  name   = upper(each.key)\n  \
         tier   = tier[each.value.tier]\n  region = each.value.region\n}}\n"
    );

    let config = load_text(&text).unwrap_or_else(|failure| panic!("{}", render(&failure.sources, &failure.diagnostics)));

    assert!(config.tenants.is_empty());
}

/// Returns the first `hcl` code block of a Markdown file.
fn first_hcl_block(markdown: &str) -> String {
    let start = markdown.find("```hcl\n").expect("no hcl block") + "```hcl\n".len();
    let end = start + markdown[start..].find("```").expect("unclosed hcl block");
    markdown[start..end].to_owned()
}

#[test]
fn sqlite_provider_example_loads() {
    let markdown = std::fs::read_to_string(root().join("docs/providers/sqlite.md")).unwrap();

    let result = load_text(&first_hcl_block(&markdown));

    if let Err(failure) = result {
        panic!("{}", render(&failure.sources, &failure.diagnostics));
    }
}

#[test]
fn warning_policy_yields_counted_warning() {
    let text = "tier \"pro\" {\n  price    = 10\n  currency = \"EUR\"\n}\n\n\
                tenant \"acme\" {\n  name   = \"Acme\"\n  tier   = tier.pro\n  region = \"eu-central-1\"\n}\n\n\
                policy \"us_only\" {\n  condition     = startswith(tenant.region, \"us-\")\n  \
                error_message = \"Tenants should live in the US.\"\n  severity      = \"warning\"\n}\n";
    let config = load_text(text).unwrap_or_else(|failure| panic!("{}", render(&failure.sources, &failure.diagnostics)));

    let diagnostics = lang::evaluate_policy_rules(&config);

    assert_eq!(diagnostics.warnings().count(), 1, "{diagnostics}");
    assert!(!diagnostics.has_errors(), "{diagnostics}");
    let json = diagnostics.to_json(&config.sources, true);
    assert_eq!(json["warning_count"], 1);
    assert_eq!(json["error_count"], 0);
    assert_eq!(json["diagnostics"][0]["severity"], "warning");
    assert_eq!(json["diagnostics"][0]["code"], "tenancy::policy::violation");
}
