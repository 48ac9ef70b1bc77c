"""The pipeline and property tests, unchanged, with the buffer on a Redis Cluster."""

from tests.assessments.test_assessment_property import (
    test_any_arrival_order_gives_the_reference_assessment,
)
from tests.integration.test_hot_chapters import (
    test_late_control_events_on_hot_chapters_end_in_the_reference_state,
)
from tests.integration.test_merge_property import (
    test_any_arrival_order_gives_the_reference_state,
    test_long_histories_of_progress_and_completions_give_the_reference_state,
    test_long_histories_with_uncompletes_and_resets_give_the_reference_state,
)
from tests.integration.test_pipeline import (
    test_chapter_progress_reaches_the_read_api,
    test_completions_drive_the_course_percent,
    test_the_lag_of_every_applied_entry_is_observed,
)
from tests.privacy.test_erasure_property import (
    test_an_erased_learner_is_what_their_later_events_alone_define,
)

__all__ = [
    "test_an_erased_learner_is_what_their_later_events_alone_define",
    "test_any_arrival_order_gives_the_reference_assessment",
    "test_any_arrival_order_gives_the_reference_state",
    "test_chapter_progress_reaches_the_read_api",
    "test_completions_drive_the_course_percent",
    "test_late_control_events_on_hot_chapters_end_in_the_reference_state",
    "test_long_histories_of_progress_and_completions_give_the_reference_state",
    "test_long_histories_with_uncompletes_and_resets_give_the_reference_state",
    "test_the_lag_of_every_applied_entry_is_observed",
]
