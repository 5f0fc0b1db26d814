"""Cost control: GPU-hour alarms on the app's metrics, a dead-letter alarm, and a monthly budget.

Metrics the app publishes (tasks/costs.py, when PICAIVID_METRICS_NAMESPACE is set; the flow-run
templates set it to `Picaivid/<env>`), unit Seconds, one datapoint per render attempt:

* `GpuSeconds` without dimensions: the attempt's GPU seconds. Daily alarm: Sum over 24 h.
* `GpuSeconds` with dimension `JobId`: the same value per job, for graphs and Insights queries.
* `JobGpuSeconds` without dimensions: the job's running total after the attempt (what
  `record_gpu_seconds` computes). Per-job alarm: Maximum over 5 min. CloudWatch cannot alarm on
  an unbounded set of JobId series, so the total travels as a value, not a dimension.
"""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import InfraConfig

GPU_SECONDS = "GpuSeconds"
JOB_GPU_SECONDS = "JobGpuSeconds"
COST_TAG = "Project"
"""Tag on every resource of a stack (value `picaivid-<env>`); the budget filters on it."""


def budget_tag_filter(cfg: InfraConfig) -> str:
    return f"user:{COST_TAG}${cfg.prefix}"


class CostControl(Construct):
    def __init__(self, scope: Construct, id: str, cfg: InfraConfig, rails_dead_letters: sqs.IQueue) -> None:
        super().__init__(scope, id)
        self.topic = sns.Topic(self, "Alerts", topic_name=f"{cfg.prefix}-alerts", display_name="Picaivid alerts")
        self.topic.add_to_resource_policy(iam.PolicyStatement(
            actions=["sns:Publish"], principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
            resources=[self.topic.topic_arn],
            conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
        ))
        if cfg.alert_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(cfg.alert_email))
        notify = actions.SnsAction(self.topic)

        def metric(name: str, statistic: str, period: Duration) -> cloudwatch.Metric:
            return cloudwatch.Metric(namespace=cfg.metrics_namespace, metric_name=name, statistic=statistic,
                                     period=period, unit=cloudwatch.Unit.SECONDS)

        self.daily_gpu_hours = cloudwatch.Alarm(
            self, "DailyGpuHours",
            alarm_name=f"{cfg.prefix}-gpu-hours-per-day",
            alarm_description=f"More than {cfg.gpu_hours_daily_alarm:g} GPU hours in the last 24 h",
            metric=metric(GPU_SECONDS, "Sum", Duration.days(1)),
            threshold=cfg.gpu_hours_daily_alarm * 3600,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.job_gpu_seconds = cloudwatch.Alarm(
            self, "JobGpuSeconds",
            alarm_name=f"{cfg.prefix}-gpu-seconds-per-job",
            alarm_description=f"A job used more than {cfg.gpu_seconds_per_job_alarm:g} GPU seconds",
            metric=metric(JOB_GPU_SECONDS, "Maximum", Duration.minutes(5)),
            threshold=cfg.gpu_seconds_per_job_alarm,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dead_letters = cloudwatch.Alarm(
            self, "RailsDeadLetters",
            alarm_name=f"{cfg.prefix}-rails-dead-letters",
            alarm_description="Messages from Rails landed in the dead-letter queue",
            metric=rails_dead_letters.metric_approximate_number_of_messages_visible(
                statistic="Maximum", period=Duration.minutes(5)),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        for alarm in (self.daily_gpu_hours, self.job_gpu_seconds, self.dead_letters):
            alarm.add_alarm_action(notify)

        subscribers = [budgets.CfnBudget.SubscriberProperty(subscription_type="SNS", address=self.topic.topic_arn)]

        def notification(kind: str, percent: float) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
            return budgets.CfnBudget.NotificationWithSubscribersProperty(
                notification=budgets.CfnBudget.NotificationProperty(
                    notification_type=kind, comparison_operator="GREATER_THAN", threshold=percent,
                    threshold_type="PERCENTAGE"),
                subscribers=subscribers,
            )

        self.budget = budgets.CfnBudget(
            self, "MonthlyBudget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"{cfg.prefix}-monthly",
                budget_type="COST", time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(amount=cfg.monthly_budget_usd, unit="USD"),
                cost_filters={"TagKeyValue": [budget_tag_filter(cfg)]},
            ),
            notifications_with_subscribers=[notification("ACTUAL", 80), notification("FORECASTED", 100)],
        )
        self.budget.node.add_dependency(self.topic.node.find_child("Policy"))  # budgets must be allowed to publish first
