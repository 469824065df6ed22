tier "pro" {
  price    = 10
  currency = "GBP"
}

tenant "crlf" {
  name   = "Windows Line Endings"
  tier   = tier.pro
  region = "uksouth"
}
