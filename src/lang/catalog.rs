//! Fixed catalogs that attribute checks use: ISO 4217 currency codes, cloud
//! region names, and CIDR parsing.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Active ISO 4217 currency codes (the list as of 2024, without fund codes
/// and precious metals).
pub(crate) const CURRENCIES: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN",
    "BHD", "BIF", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CLP", "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG",
    "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF",
    "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA",
    "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MYR", "MZN", "NAD", "NGN", "NIO",
    "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD",
    "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN",
    "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX",
    "USD", "UYU", "UZS", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XOF", "XPF", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// AWS region names.
pub(crate) const AWS_REGIONS: &[&str] = &[
    "us-east-1", "us-east-2", "us-west-1", "us-west-2", "af-south-1", "ap-east-1", "ap-south-1",
    "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4",
    "ap-southeast-5", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ca-central-1", "ca-west-1",
    "eu-central-1", "eu-central-2", "eu-west-1", "eu-west-2", "eu-west-3", "eu-south-1", "eu-south-2",
    "eu-north-1", "il-central-1", "me-south-1", "me-central-1", "sa-east-1", "us-gov-east-1",
    "us-gov-west-1", "cn-north-1", "cn-northwest-1",
];

/// Azure region names, in the short form the Azure CLI uses.
pub(crate) const AZURE_REGIONS: &[&str] = &[
    "eastus", "eastus2", "centralus", "northcentralus", "southcentralus", "westcentralus", "westus",
    "westus2", "westus3", "canadacentral", "canadaeast", "brazilsouth", "brazilsoutheast", "mexicocentral",
    "northeurope", "westeurope", "uksouth", "ukwest", "francecentral", "francesouth", "germanywestcentral",
    "germanynorth", "switzerlandnorth", "switzerlandwest", "norwayeast", "norwaywest", "swedencentral",
    "polandcentral", "italynorth", "spaincentral", "eastasia", "southeastasia", "japaneast", "japanwest",
    "koreacentral", "koreasouth", "australiaeast", "australiasoutheast", "australiacentral",
    "australiacentral2", "centralindia", "southindia", "westindia", "jioindiawest", "uaenorth",
    "uaecentral", "southafricanorth", "southafricawest", "qatarcentral", "israelcentral",
];

/// Google Cloud region names.
pub(crate) const GCP_REGIONS: &[&str] = &[
    "africa-south1", "asia-east1", "asia-east2", "asia-northeast1", "asia-northeast2", "asia-northeast3",
    "asia-south1", "asia-south2", "asia-southeast1", "asia-southeast2", "australia-southeast1",
    "australia-southeast2", "europe-central2", "europe-north1", "europe-southwest1", "europe-west1",
    "europe-west2", "europe-west3", "europe-west4", "europe-west6", "europe-west8", "europe-west9",
    "europe-west10", "europe-west12", "me-central1", "me-central2", "me-west1", "northamerica-northeast1",
    "northamerica-northeast2", "southamerica-east1", "southamerica-west1", "us-central1", "us-east1",
    "us-east4", "us-east5", "us-south1", "us-west1", "us-west2", "us-west3", "us-west4",
];

/// Returns every accepted region name: AWS, Azure, GCP, and `local`.
pub(crate) fn all_regions() -> Vec<&'static str> {
    let mut regions = vec!["local"];
    regions.extend_from_slice(AWS_REGIONS);
    regions.extend_from_slice(AZURE_REGIONS);
    regions.extend_from_slice(GCP_REGIONS);
    regions
}

/// Checks a CIDR block such as `10.0.0.0/16`: an address, a slash, and a
/// prefix length within the address family, with no host bits set.
pub(crate) fn parse_cidr(text: &str, allow_v6: bool) -> Result<(), String> {
    let Some((address, prefix)) = text.split_once('/') else {
        return Err("the prefix length after `/` is missing".to_owned());
    };
    let prefix: u32 = prefix
        .parse()
        .map_err(|_| format!("`{prefix}` is not a prefix length"))?;
    if let Ok(v4) = address.parse::<Ipv4Addr>() {
        if prefix > 32 {
            return Err(format!("the prefix length {prefix} is larger than 32"));
        }
        let bits = u32::from(v4);
        let host_mask = if prefix == 32 { 0 } else { u32::MAX >> prefix };
        if bits & host_mask != 0 {
            let network = Ipv4Addr::from(bits & !host_mask);
            return Err(format!("host bits are set; the network address is `{network}/{prefix}`"));
        }
        return Ok(());
    }
    if allow_v6 {
        if let Ok(v6) = address.parse::<Ipv6Addr>() {
            if prefix > 128 {
                return Err(format!("the prefix length {prefix} is larger than 128"));
            }
            let bits = u128::from(v6);
            let host_mask = if prefix == 128 { 0 } else { u128::MAX >> prefix };
            if bits & host_mask != 0 {
                return Err("host bits are set".to_owned());
            }
            return Ok(());
        }
    }
    let family = if allow_v6 { "an IPv4 or IPv6" } else { "an IPv4" };
    Err(format!("`{address}` is not {family} address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_accepts_network_address() {
        assert_eq!(parse_cidr("10.0.0.0/16", false), Ok(()));
        assert_eq!(parse_cidr("fd00::/8", true), Ok(()));
    }

    #[test]
    fn cidr_rejects_host_bits() {
        let error = parse_cidr("10.0.0.1/16", false).unwrap_err();
        assert!(error.contains("`10.0.0.0/16`"), "{error}");
    }

    #[test]
    fn cidr_rejects_ipv6_where_ipv4_expected() {
        assert!(parse_cidr("fd00::/8", false).is_err());
    }

    #[test]
    fn currencies_are_sorted_and_unique() {
        let mut sorted = CURRENCIES.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, CURRENCIES);
    }
}
