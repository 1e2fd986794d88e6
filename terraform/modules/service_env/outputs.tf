output "contract" {
  description = "Every variable name Terraform may pass, per service (equal to infra/env-contract.json)."
  value       = local.contract
}

output "edge_environment" {
  description = "Plain environment of tether-edge (no secrets)."
  value       = local.edge_environment

  precondition {
    condition     = length(setsubtract(keys(local.edge_environment), local.contract["tether-edge"].environment)) == 0
    error_message = "tether-edge gets a variable that is not in the contract."
  }
}

output "edge_secrets" {
  description = "Secrets of tether-edge: variable name -> Secrets Manager ARN."
  value       = local.edge_secrets

  precondition {
    condition     = toset(keys(local.edge_secrets)) == toset(local.contract["tether-edge"].secrets)
    error_message = "tether-edge's secrets differ from the contract."
  }
}

output "state_environment" {
  description = "Plain environment of tether-state (no secrets)."
  value       = local.state_environment

  precondition {
    condition     = length(setsubtract(keys(local.state_environment), local.contract["tether-state"].environment)) == 0
    error_message = "tether-state gets a variable that is not in the contract."
  }
}

output "state_secrets" {
  description = "Secrets of tether-state: variable name -> Secrets Manager ARN."
  value       = local.state_secrets

  precondition {
    condition = (
      length(setsubtract(keys(local.state_secrets), local.contract["tether-state"].secrets)) == 0 &&
      length(setsubtract(setsubtract(local.contract["tether-state"].secrets, local.contract["tether-state"].optional), keys(local.state_secrets))) == 0
    )
    error_message = "tether-state's secrets differ from the contract (every secret must be in it, every non-optional one passed)."
  }
}
