terraform {
  # No provider: this module only computes the containers' environment.
  required_version = ">= 1.9.0"
}
