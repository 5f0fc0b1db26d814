"""The queues: Rails → relay (with a dead-letter queue), pipeline events → Rails, and ECS task
events → Prefect's observer."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import InfraConfig

RELAY_VISIBILITY_TIMEOUT = Duration.seconds(60)
"""What `flows.relay.Relay` asks for on receive and extends while it works."""
OBSERVER_VISIBILITY_TIMEOUT = Duration.seconds(300)
"""prefect_aws.observers.ecs receives with a 300 s visibility timeout."""


def _queue(scope: Construct, id: str, name: str, **props) -> sqs.Queue:
    return sqs.Queue(scope, id, queue_name=name, encryption=sqs.QueueEncryption.SQS_MANAGED, enforce_ssl=True, **props)


def rails_queues(scope: Construct, cfg: InfraConfig) -> tuple[sqs.Queue, sqs.Queue]:
    """The queue Rails sends one message per video to, and its dead-letter queue.

    The relay itself moves malformed messages and unknown jobs to the DLQ (with the reason);
    the redrive policy catches the rest: a message the relay keeps failing on.
    """
    dead = _queue(scope, "RailsDeadLetters", f"{cfg.prefix}-jobs-dlq", retention_period=Duration.days(14))
    queue = _queue(
        scope, "RailsJobs", f"{cfg.prefix}-jobs",
        visibility_timeout=RELAY_VISIBILITY_TIMEOUT,
        retention_period=Duration.days(4),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=cfg.rails_max_receive_count),
    )
    return queue, dead


def rails_events_queue(scope: Construct, cfg: InfraConfig) -> sqs.Queue:
    """Where the publisher (`picaivid publish-events`) sends each job event and Rails reads them
    (docs/rails.md); kept two weeks, so a Rails outage loses nothing."""
    return _queue(scope, "RailsEvents", f"{cfg.prefix}-events", retention_period=Duration.days(14))


def ecs_events_queue(scope: Construct, cfg: InfraConfig, cluster: ecs.ICluster) -> sqs.Queue:
    """ECS task state changes of this cluster, for the workers' ECS observer (crash detection)."""
    dead = _queue(scope, "EcsEventsDeadLetters", f"{cfg.prefix}-ecs-events-dlq", retention_period=Duration.days(14))
    queue = _queue(
        scope, "EcsEvents", f"{cfg.prefix}-ecs-events",
        visibility_timeout=OBSERVER_VISIBILITY_TIMEOUT,
        retention_period=Duration.days(7),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead, max_receive_count=3),
    )
    events.Rule(
        scope, "EcsTaskStateChange",
        description="ECS task state changes for the Prefect ECS observer",
        event_pattern=events.EventPattern(
            source=["aws.ecs"], detail_type=["ECS Task State Change"], detail={"clusterArn": [cluster.cluster_arn]}
        ),
        targets=[targets.SqsQueue(queue)],
    )
    return queue
