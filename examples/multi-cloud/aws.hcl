# Tenants whose network lives in AWS: each gets a VPC, subnets spread over
# the region's availability zones and a security group that admits only the
# networks its policy allows (see docs/providers/aws.md).
#
# The defaults point at moto, the EC2 emulator on 127.0.0.1:5000, which
# accepts any credentials. For a real account, pass `-var aws_endpoint=` and
# your keys, or leave the keys empty to use the AWS credential chain.

variable "aws_endpoint" {
  type        = string
  default     = "http://127.0.0.1:5000"
  description = "EC2 endpoint URL; empty for the regional AWS endpoints."
}

variable "aws_access_key" {
  type        = string
  default     = "test"
  sensitive   = true
  description = "AWS access key id; empty to use the credential chain."
}

variable "aws_secret_key" {
  type        = string
  default     = "test"
  sensitive   = true
  description = "AWS secret access key; empty to use the credential chain."
}

provider "aws" {
  region     = "eu-central-1"
  endpoint   = var.aws_endpoint
  access_key = var.aws_access_key
  secret_key = var.aws_secret_key
}

tenant "northwind" {
  name            = "Northwind Health"
  tier            = tier.enterprise
  region          = "eu-central-1"
  security_policy = security_policy.regulated

  network "aws" {
    cidr = "10.10.0.0/16"
  }
}

tenant "tailspin" {
  name            = "Tailspin Toys"
  tier            = tier.business
  region          = "us-east-1"
  security_policy = security_policy.standard

  network "aws" {
    cidr         = "10.20.0.0/16"
    subnet_count = 3
  }
}
