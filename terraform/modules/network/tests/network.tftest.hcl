# Plan/apply-time checks of the network module with a mocked AWS provider (no credentials, no
# network): the data stores are reachable from the state service only, and every validation
# rejects the value it exists for.

mock_provider "aws" {}

variables {
  name               = "tether-test"
  vpc_id             = "vpc-0123456789abcdef0"
  public_subnet_ids  = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  private_subnet_ids = ["subnet-0000000000000000c", "subnet-0000000000000000d"]
  kafka_enabled      = true
}

run "data_stores_only_reachable_from_state" {
  command = apply

  assert {
    condition     = aws_vpc_security_group_ingress_rule.redis_from_state.referenced_security_group_id == aws_security_group.state.id
    error_message = "Redis must accept connections from the state service's security group"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.redis_from_state.cidr_ipv4 == null && aws_vpc_security_group_ingress_rule.redis_from_state.cidr_ipv6 == null
    error_message = "Redis must not be open to an address range"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.redis_from_state.from_port == 6379 && aws_vpc_security_group_ingress_rule.redis_from_state.to_port == 6379
    error_message = "Redis ingress must be port 6379 only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.kafka_from_state[0].referenced_security_group_id == aws_security_group.state.id && aws_vpc_security_group_ingress_rule.kafka_from_state[0].cidr_ipv4 == null
    error_message = "Kafka must accept connections from the state service only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.kafka_from_state[0].from_port == 9096 && aws_vpc_security_group_ingress_rule.kafka_from_state[0].to_port == 9096 && aws_vpc_security_group_egress_rule.state_to_kafka[0].from_port == 9096 && aws_vpc_security_group_egress_rule.state_to_kafka[0].to_port == 9096
    error_message = "Kafka traffic is MSK's SASL/SCRAM TLS listener, port 9096 only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.state_from_edge.referenced_security_group_id == aws_security_group.edge.id
    error_message = "The state service must accept connections from edges only"
  }
  assert {
    condition     = aws_vpc_security_group_ingress_rule.edge_from_alb.referenced_security_group_id == aws_security_group.alb.id && aws_vpc_security_group_ingress_rule.edge_from_alb.from_port == 8080
    error_message = "Edges must accept connections from the load balancer only, on 8080"
  }
  assert {
    condition     = length(output.security_group_ids) == 5
    error_message = "With Kafka enabled there are five security groups"
  }
}

run "kafka_disabled_creates_no_kafka_group" {
  command = plan

  variables {
    kafka_enabled = false
  }

  assert {
    condition     = length(aws_security_group.kafka) == 0 && length(aws_vpc_security_group_egress_rule.state_to_kafka) == 0
    error_message = "No Kafka security group or rule without Kafka"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects bad name
    name = "Tether_Prod"
    # rejects bad vpc id
    vpc_id = "my-vpc"
    # rejects single public subnet
    public_subnet_ids = ["subnet-0000000000000000a"]
    # rejects single private subnet
    private_subnet_ids = ["subnet-0000000000000000c"]
    # rejects bad ingress cidr
    alb_ingress_cidrs = ["10.0.0.0/33"]
    # rejects empty egress
    egress_https_cidrs = []
    # rejects privileged edge port
    edge_port = 80
    # rejects privileged state port
    state_port = 443
  }

  expect_failures = [
    var.name,
    var.vpc_id,
    var.public_subnet_ids,
    var.private_subnet_ids,
    var.alb_ingress_cidrs,
    var.egress_https_cidrs,
    var.edge_port,
    var.state_port,
  ]
}
