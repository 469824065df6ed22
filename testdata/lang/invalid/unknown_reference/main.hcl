variable "region" {
  default = "eu-west-1"
}

tier "pro" {
  price    = 10
  currency = "EUR"
}

tenant "acme" {
  name   = "Acme ${local.sufix}"
  tier   = tier.premium
  region = var.regoin
}

tenant "globex" {
  name   = each.key
  tier   = tier.pro
  region = var.region
}
