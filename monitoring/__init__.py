"""Monitoring beside the pipeline: queue sampling, worker reports, alert evaluation.

``queue`` samples the Redis merge buffer cheaply (a fixed number of O(log n) commands per
shard); ``fleet`` carries each worker's figures to Redis so one place can judge them all;
``alerts`` turns figures into ``ok``/``firing`` states against the ``WAYMARK_ALERT_*``
thresholds, the same thresholds the Prometheus rules in ``monitoring/prometheus`` read from
``waymark_alert_threshold``. Nothing here imports ``ingest`` or ``workers``.
"""
