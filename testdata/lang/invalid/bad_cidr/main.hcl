tier "pro" {
  price    = 10
  currency = "EUR"
}

security_policy "strict" {
  allowed_networks = ["10.0.0.0/8", "10.0.0.1/16"]
}

tenant "acme" {
  name   = "Acme"
  tier   = tier.pro
  region = "local"

  network "aws" {
    cidr = "300.0.0.0/16"
  }
}
