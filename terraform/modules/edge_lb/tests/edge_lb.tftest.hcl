# The load balancer suits long-lived WebSockets: long idle timeout, TLS 1.3, redirect on 80, ip
# targets without stickiness, a drain window, readiness health checks.

mock_provider "aws" {}

variables {
  name              = "tether-test"
  vpc_id            = "vpc-0123456789abcdef0"
  subnet_ids        = ["subnet-0000000000000000a", "subnet-0000000000000000b"]
  security_group_id = "sg-0123456789abcdef0"
  certificate_arn   = "arn:aws:acm:eu-west-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  domain_name       = "stream.example.com"
}

run "alb_suits_long_lived_websockets" {
  command = plan

  assert {
    condition     = aws_lb.this.idle_timeout == 300
    error_message = "The default idle timeout is 300 s"
  }
  assert {
    condition     = aws_lb.this.idle_timeout >= 60
    error_message = "The idle timeout must stay well above the edge's 25 s ping"
  }
  assert {
    condition     = aws_lb.this.drop_invalid_header_fields
    error_message = "Invalid header fields must be dropped"
  }
  assert {
    condition     = aws_lb.this.internal == false && aws_lb.this.load_balancer_type == "application"
    error_message = "A public application load balancer"
  }
  assert {
    condition     = output.wss_url == "wss://stream.example.com"
    error_message = "The WebSocket URL uses wss:// and the public hostname"
  }
}

run "https_listener_uses_tls13" {
  command = plan

  assert {
    condition     = aws_lb_listener.https.protocol == "HTTPS" && aws_lb_listener.https.port == 443
    error_message = "HTTPS on 443"
  }
  assert {
    condition     = aws_lb_listener.https.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    error_message = "The TLS 1.3 policy is the default"
  }
  assert {
    condition     = aws_lb_listener.https.certificate_arn == var.certificate_arn
    error_message = "The listener serves the given certificate"
  }
}

run "port_80_only_redirects" {
  command = plan

  assert {
    condition     = aws_lb_listener.http_redirect.port == 80 && one(aws_lb_listener.http_redirect.default_action).type == "redirect"
    error_message = "Port 80 must redirect"
  }
  assert {
    condition = (
      one(one(aws_lb_listener.http_redirect.default_action).redirect).protocol == "HTTPS" &&
      one(one(aws_lb_listener.http_redirect.default_action).redirect).port == "443" &&
      one(one(aws_lb_listener.http_redirect.default_action).redirect).status_code == "HTTP_301"
    )
    error_message = "The redirect is a permanent one to HTTPS on 443"
  }
}

run "target_group_ip_no_stickiness_drains" {
  command = plan

  assert {
    condition     = aws_lb_target_group.edge.target_type == "ip"
    error_message = "Fargate tasks register by IP"
  }
  assert {
    condition     = one(aws_lb_target_group.edge.stickiness).enabled == false
    error_message = "Stickiness must be off: any edge serves any client"
  }
  assert {
    condition     = aws_lb_target_group.edge.deregistration_delay == "90" && output.deregistration_delay == 90
    error_message = "The default drain window is 90 s"
  }
  assert {
    condition     = one(aws_lb_target_group.edge.health_check).path == "/readyz" && aws_lb_target_group.edge.port == 8080
    error_message = "Health checks hit /readyz on the edge port"
  }
}

run "access_logs_when_bucket_given" {
  command = plan

  variables {
    access_logs_bucket = "tether-test-alb-logs"
  }

  assert {
    condition     = one(aws_lb.this.access_logs).enabled && one(aws_lb.this.access_logs).bucket == "tether-test-alb-logs"
    error_message = "A given bucket turns access logs on"
  }
}

# Every validation below rejects its bad value; they are independent, so one plan checks them
# all and names any that let a bad value through ("Missing expected failure").
run "rejects_invalid_values" {
  command = plan

  variables {
    # rejects long name
    name = "tether-production-edge-load-balancer"
    # rejects bad vpc id
    vpc_id = "vpc"
    # rejects single subnet
    subnet_ids = ["subnet-0000000000000000a"]
    # rejects bad security group
    security_group_id = "alb"
    # rejects bad certificate arn
    certificate_arn = "arn:aws:iam::123456789012:server-certificate/x"
    # rejects bad domain name
    domain_name = "https://stream.example.com"
    # rejects idle timeout below ping margin
    idle_timeout = 30
    # rejects tls12 policy
    ssl_policy = "ELBSecurityPolicy-2016-08"
    # rejects privileged target port
    target_port = 80
    # rejects relative health path
    health_check_path = "readyz"
    # rejects negative deregistration delay
    deregistration_delay = -1
    # rejects bad access logs bucket
    access_logs_bucket = "s3://logs"
    # rejects bad waf arn
    waf_web_acl_arn = "arn:aws:waf::123456789012:webacl/x"
  }

  expect_failures = [
    var.name,
    var.vpc_id,
    var.subnet_ids,
    var.security_group_id,
    var.certificate_arn,
    var.domain_name,
    var.idle_timeout,
    var.ssl_policy,
    var.target_port,
    var.health_check_path,
    var.deregistration_delay,
    var.access_logs_bucket,
    var.waf_web_acl_arn,
  ]
}
