terraform {
  # 1.10: S3 backend locking without DynamoDB (use_lockfile in backend.hcl).
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80, < 6.0"
    }
  }

  # Partial configuration: `terraform init -backend-config=backend.hcl` (see backend.hcl.example).
  backend "s3" {}
}

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project     = "tether"
      Environment = var.environment
      Root        = "data"
      ManagedBy   = "terraform"
    }
  }
}
