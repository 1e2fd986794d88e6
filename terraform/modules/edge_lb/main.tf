# The public entry point: an Application Load Balancer for long-lived WebSocket, SSE and
# long-poll connections to tether-edge.
#
# - idle_timeout (300 s) far above the edge's 25 s ping, so quiet sockets are not cut;
# - TLS 1.3 policy on 443, port 80 only redirects;
# - `ip` targets (Fargate awsvpc), no stickiness: any edge serves any client, a reconnect
#   resumes from the client's offset;
# - deregistration_delay = the edge's drain window (ECS deregisters a task, waits this long, then
#   sends SIGTERM; the container's stopTimeout bounds what follows).

resource "aws_lb" "this" {
  #checkov:skip=CKV2_AWS_28:A WAF web ACL is optional (waf_web_acl_arn): rate limits for WebSocket upgrades are enforced by tether-edge, and a managed rule set is a per-deployment choice.
  #checkov:skip=CKV2_AWS_76:Nothing behind this load balancer runs on the JVM, so Log4j rules would protect nothing; a web ACL is optional (waf_web_acl_arn).
  #checkov:skip=CKV_AWS_150:deletion_protection is a variable, on by default and in prod; the dev root turns it off so that environment can be torn down.
  #checkov:skip=CKV_AWS_91:Access logs are optional (access_logs_bucket): they need a bucket whose policy admits the regional ELB account, which lives outside this module.
  name                       = var.name
  load_balancer_type         = "application"
  internal                   = false
  subnets                    = var.subnet_ids
  security_groups            = [var.security_group_id]
  idle_timeout               = var.idle_timeout
  drop_invalid_header_fields = true
  desync_mitigation_mode     = "defensive"
  enable_deletion_protection = var.deletion_protection
  enable_http2               = true
  tags                       = var.tags

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = var.name
      enabled = true
    }
  }
}

resource "aws_lb_target_group" "edge" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer; edges listen on plain HTTP in private subnets behind a security group that admits only the load balancer.
  name                 = var.name
  vpc_id               = var.vpc_id
  target_type          = "ip"
  protocol             = "HTTP"
  protocol_version     = "HTTP1"
  port                 = var.target_port
  deregistration_delay = var.deregistration_delay
  tags                 = var.tags

  stickiness {
    type    = "lb_cookie"
    enabled = false
  }

  health_check {
    enabled             = true
    path                = var.health_check_path
    protocol            = "HTTP"
    port                = "traffic-port"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn
  tags              = var.tags

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.edge.arn
  }
}

resource "aws_lb_listener" "http_redirect" {
  #checkov:skip=CKV_AWS_2:This listener only answers 301 to https:// (see default_action); it never forwards.
  #checkov:skip=CKV_AWS_103:No TLS on a listener that only redirects to the TLS 1.3 listener.
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"

    redirect {
      protocol    = "HTTPS"
      port        = "443"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}
