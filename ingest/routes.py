"""Every route of the HTTP server, declared once.

The router (``ingest.routing.add_routes``), the scope check and ``/openapi.json``
(``ingest.openapi``) are all built from ``ROUTES``; a route added here is served, guarded and
documented at once. Order matters only to the document's order of paths.
"""

from __future__ import annotations

from aiohttp import web

from aggregator import (
    achievements,
    catalog,
    certificate_reads,
    course_report,
    enrollments,
    learner_export,
    path_progress,
    path_rules,
    paths,
    points,
    queries,
    quiz_reads,
    read,
    skills,
)
from aggregator import learner_analytics as analytics
from aggregator.events import StreamEvent
from ingest import analytics as analytics_reads
from ingest import certificate_handlers as certs
from ingest import course_report_page as report_page
from ingest import handlers, openapi, ops, path_handlers, privacy, reads
from ingest import quiz_handlers as quiz
from ingest import reward_handlers as rewards
from ingest.context import SETTINGS
from ingest.routing import Route
from monitoring.alert_loop import get_alerts
from monitoring.alerts import AlertState
from monitoring.exposition import health, metrics
from waymark_client.wire import BatchResult, RawBatch

USER = "/v1/users/{user_id}"


async def openapi_document(request: web.Request) -> web.Response:
    return openapi.response(ROUTES, request.app[SETTINGS].max_events)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/v1/events", handlers.post_events, "ingest",
          "Send a batch of progress events", RawBatch, BatchResult, 202),
    Route("PUT", "/v1/courses/{course_id}", handlers.put_course, "admin",
          "Store a course catalog", catalog.CourseCatalog, catalog.CatalogView),
    Route("GET", "/v1/courses/{course_id}", handlers.get_course, "read",
          "A course catalog and its recompute progress", response=catalog.CatalogView),
    Route("GET", "/v1/courses/{course_id}/stats", report_page.course_stats, "read",
          "Learners, completion, risk, quiz pass rates and drop-off of a course",
          response=course_report.CourseStatsView),
    Route("GET", "/v1/courses/{course_id}/report", report_page.course_report_view, "read",
          "The course report: stats and daily activity; an HTML page with charts when the"
          " client prefers text/html", response=course_report.CourseReport),
    Route("GET", "/v1/courses/{course_id}/quizzes/{quiz_id}/stats", quiz.quiz_stats, "read",
          "A quiz's pass rate, scores and per-question percent correct",
          response=quiz_reads.QuizStats),
    Route("GET", f"{USER}/courses/{{course_id}}/quizzes/{{quiz_id}}/attempts", quiz.quiz_attempts,
          "read", "A learner's attempts of a quiz with status, figures and responses",
          response=quiz_reads.AttemptList),
    Route("GET", f"{USER}/courses/{{course_id}}/quizzes/{{quiz_id}}/eligibility",
          quiz.quiz_eligibility, "read", "May the learner start an attempt now, and if not why",
          response=quiz_reads.EligibilityView, query=("as_of",)),
    Route("GET", f"{USER}/courses/{{course_id}}", handlers.get_course_progress, "read",
          "Course progress with modules, chapters, quizzes and availability as of a time",
          response=read.CourseProgressView, query=("as_of",)),
    Route("GET", f"{USER}/courses/{{course_id}}/enrollment", reads.enrollment, "read",
          "The enrollment status and every enrollment change, oldest first",
          response=enrollments.EnrollmentView),
    Route("DELETE", f"{USER}/courses/{{course_id}}/progress", reads.reset_progress, "admin",
          "Reset a course (a course_reset at server time)", response=queries.ResetAccepted,
          status=202, self_service=True),
    Route("GET", f"{USER}/courses", reads.list_courses, "read",
          "Courses, most recently accessed first", response=queries.CoursePage,
          query=("status", "limit", "cursor", "include")),
    Route("POST", f"{USER}/courses:batchGet", reads.batch_get, "read",
          "Several courses in one query", queries.BatchGetRequest, queries.BatchGetResult),
    Route("GET", f"{USER}/summary", reads.user_summary, "read",
          "The user summary with streaks", response=queries.UserSummaryView),
    Route("GET", f"{USER}/activity", reads.user_activity, "read",
          "Daily activity (heatmap)", response=queries.ActivityView, query=("from", "to")),
    Route("GET", f"{USER}/sessions", analytics_reads.user_sessions, "read",
          "Learning sessions that started in a range of UTC days",
          response=analytics.SessionsView, query=("from", "to")),
    Route("GET", f"{USER}/courses/{{course_id}}/history", analytics_reads.course_history, "read",
          "End-of-day course percent on each day with activity",
          response=analytics.HistoryView, query=("from", "to")),
    Route("GET", f"{USER}/skills", analytics_reads.user_skills, "read",
          "Mastery and level per skill tagged in the learner's courses",
          response=skills.SkillsView),
    Route("GET", f"{USER}/courses/{{course_id}}/forecast", analytics_reads.course_forecast,
          "read", "Predicted completion and risk of falling behind",
          response=analytics.ForecastView),
    Route("GET", f"{USER}/reports/weekly", analytics_reads.weekly_report, "read",
          "An ISO week's figures with the change against the week before",
          response=analytics.ReportView, query=("week",)),
    Route("GET", f"{USER}/reports/monthly", analytics_reads.monthly_report, "read",
          "A month's figures with the change against the month before",
          response=analytics.ReportView, query=("month",)),
    Route("PUT", "/v1/paths/{path_id}", path_handlers.put_path, "admin",
          "Store a learning path", paths.PathDocument, paths.PathView),
    Route("GET", "/v1/paths/{path_id}", path_handlers.get_path, "read",
          "A learning path", response=paths.PathView),
    Route("GET", f"{USER}/paths/{{path_id}}", path_handlers.user_path, "read",
          "A learner's progress along a path", response=path_rules.PathProgressView),
    Route("GET", f"{USER}/paths", path_handlers.user_paths, "read",
          "The paths a learner is on, by path id", response=path_progress.PathList,
          query=("limit", "cursor")),
    Route("PUT", "/v1/achievements/{achievement_id}", rewards.put_achievement, "admin",
          "Store an achievement definition; learners who already qualify get it in the"
          " background", achievements.AchievementDefinition, achievements.AchievementView),
    Route("GET", "/v1/achievements/{achievement_id}", rewards.get_achievement, "read",
          "An achievement definition and its backfill progress",
          response=achievements.AchievementView),
    Route("GET", "/v1/achievements", rewards.list_achievements, "read",
          "Every achievement definition", response=achievements.AchievementList),
    Route("GET", f"{USER}/achievements", rewards.user_achievements, "read",
          "The achievements a learner holds, earliest first", response=achievements.AwardList),
    Route("GET", f"{USER}/points", rewards.user_points, "read",
          "A learner's points balance and ledger", response=points.PointsView),
    Route("PUT", f"{USER}/preferences", rewards.put_preferences, "admin",
          "A learner's preferences (leaderboard opt-out)", points.Preferences,
          points.Preferences, self_service=True),
    Route("GET", f"{USER}/preferences", rewards.get_preferences, "read",
          "A learner's preferences", response=points.Preferences),
    Route("GET", "/v1/leaderboards/points", rewards.leaderboard, "read",
          "Top learners by points (global or a course; week, month or all time), with the"
          " caller's own rank under a user token", response=points.Leaderboard,
          query=("course_id", "period", "limit"), self_service=True),
    Route("GET", f"{USER}/export", privacy.export_user, "admin",
          "Everything held about a learner (JSON, or NDJSON with format=ndjson)",
          response=learner_export.LearnerExport, query=("format",), self_service=True,
          alt_media=("application/x-ndjson",)),
    Route("DELETE", USER, privacy.erase_user, "admin",
          "Erase a learner everywhere; a tombstone stays", response=privacy.ErasureView),
    Route("GET", "/v1/courses/{course_id}/export.csv", privacy.export_course, "admin",
          "A course as CSV, one row per learner and chapter", response=str, media="text/csv"),
    Route("GET", f"{USER}/stream", reads.user_stream, "read",
          "Server-Sent Events of the user's changes", response=StreamEvent,
          media="text/event-stream"),
    Route("GET", "/v1/alerts", get_alerts, "read",
          "The latest evaluation of every alert", response=list[AlertState]),
    Route("GET", "/v1/certificates/keys", certs.certificate_keys, None,
          "The public keys (JWKS, Ed25519) that verify certificate signatures, current and"
          " retired", response=certs.Jwks),
    Route("GET", "/v1/certificates/verify/{code}", certs.verify_certificate, None,
          "Check a verification code (no credential; rate-limited per client address): status"
          " and the signed document", response=certificate_reads.VerifyView),
    Route("GET", f"{USER}/certificates", certs.user_certificates, "read",
          "A learner's certificates, oldest first", response=certificate_reads.CertificateList),
    Route("GET", "/v1/certificates/{certificate_id}.pdf", certs.certificate_pdf, "read",
          "A certificate as a PDF (a read key, or the learner's own user token)",
          response=bytes, media="application/pdf", self_service=True),
    Route("POST", "/v1/certificates/{certificate_id}:revoke", certs.revoke_certificate, "admin",
          "Revoke a certificate (idempotent)", response=certificate_reads.CertificateView),
    Route("GET", "/openapi.json", openapi_document, None),
    Route("GET", "/static/{name}", report_page.static_file, None),
    Route("GET", "/health", health, None),
    Route("GET", "/ready", ops.ready, None),
    Route("GET", "/metrics", metrics, None),
)
