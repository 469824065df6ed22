//! Cloud Storage bucket locations: which values a bucket's `location` and a
//! tenant's `region` may take.
//!
//! Cloud Storage names a location case-insensitively and returns it in upper
//! case (`EUROPE-WEST1`), so the provider plans and records the upper-case
//! form and a lower-case configuration never shows as drift.

/// Multi-region and predefined dual-region locations.
const MULTI_REGIONS: &[&str] = &[
    "asia", "eu", "us", "asia1", "eur4", "eur5", "eur7", "eur8", "nam4",
];

/// Regions, as listed on Cloud Storage's bucket locations page in 2025.
///
/// NOTE: Google adds regions over time, so an explicit `location` that looks
/// like a region name is accepted even when it is missing here. A tenant's
/// `region` becomes a bucket location only when it is in this list.
const REGIONS: &[&str] = &[
    "africa-south1",
    "asia-east1",
    "asia-east2",
    "asia-northeast1",
    "asia-northeast2",
    "asia-northeast3",
    "asia-south1",
    "asia-south2",
    "asia-southeast1",
    "asia-southeast2",
    "australia-southeast1",
    "australia-southeast2",
    "europe-central2",
    "europe-north1",
    "europe-north2",
    "europe-southwest1",
    "europe-west1",
    "europe-west10",
    "europe-west12",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-west6",
    "europe-west8",
    "europe-west9",
    "me-central1",
    "me-central2",
    "me-west1",
    "northamerica-northeast1",
    "northamerica-northeast2",
    "northamerica-south1",
    "southamerica-east1",
    "southamerica-west1",
    "us-central1",
    "us-east1",
    "us-east4",
    "us-east5",
    "us-south1",
    "us-west1",
    "us-west2",
    "us-west3",
    "us-west4",
];

/// Returns true when `value` names a location in the lists above, in any case.
pub fn is_known(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    MULTI_REGIONS.contains(&lower.as_str()) || REGIONS.contains(&lower.as_str())
}

/// Returns true when `value` has the shape of a region name: lower-case
/// words joined by `-`, the last one ending in digits (`europe-west1`).
pub fn looks_like_region(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    let Some((area, last)) = lower.rsplit_once('-') else {
        return false;
    };
    let letters = last.trim_end_matches(|character: char| character.is_ascii_digit());
    let valid_area = !area.is_empty()
        && area.split('-').all(|word| {
            !word.is_empty() && word.chars().all(|character| character.is_ascii_lowercase())
        });
    valid_area
        && !letters.is_empty()
        && letters.len() < last.len()
        && letters
            .chars()
            .all(|character| character.is_ascii_lowercase())
}

/// Returns the known locations as a comma-separated list for error messages.
pub fn choices() -> String {
    MULTI_REGIONS
        .iter()
        .chain(REGIONS)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// Returns the form Cloud Storage reports: upper case.
pub fn normalize(value: &str) -> String {
    value.to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_locations_match_in_any_case() {
        assert!(is_known("europe-west1"));
        assert!(is_known("EUROPE-WEST1"));
        assert!(is_known("EU"));
        assert!(is_known("nam4"));
        assert!(!is_known("eu-central-1"));
    }

    #[test]
    fn region_shape_accepts_new_regions_only() {
        assert!(looks_like_region("europe-west99"));
        assert!(looks_like_region("northamerica-south1"));
        assert!(!looks_like_region("eu-central-1"));
        assert!(!looks_like_region("europe"));
        assert!(!looks_like_region("europe-west"));
        assert!(!looks_like_region("-west1"));
    }

    #[test]
    fn choices_list_every_location() {
        let listed = choices();

        assert!(listed.starts_with("asia, eu, us"));
        assert!(listed.contains("us-central1"));
    }
}
