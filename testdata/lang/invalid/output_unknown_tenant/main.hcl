tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "local"
}

output "id" {
  value = tenant.acmee.id
}
