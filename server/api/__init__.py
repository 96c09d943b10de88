"""REST API v1: short controllers that decode, call one store function and return a Struct.

One module per feature, each with its controllers and the schemas only it uses; what several
share is in :mod:`server.api.common`. ``ROUTE_HANDLERS`` is what the app mounts, in order.
"""

from __future__ import annotations

from typing import Final

from server.api.admin import ServiceTokenController
from server.api.assessments import AssessmentController
from server.api.assignments import AssignmentController
from server.api.auth import AuthController
from server.api.competencies import CompetencyController
from server.api.courses import CourseProgressController
from server.api.enrollments import EnrollmentController
from server.api.events import EventController
from server.api.gamification import (
    AchievementsController,
    CertificateController,
    GroupController,
    LeaderboardController,
    well_known_jwks,
)
from server.api.health import HealthController
from server.api.paths import MilestoneController
from server.api.progress import ProgressController
from server.api.report_quizzes import ReportQuizzesController
from server.api.reports import ReportController
from server.api.statistics import StatisticsController

ROUTE_HANDLERS: Final = (
    AuthController,
    ProgressController,
    EnrollmentController,
    StatisticsController,
    MilestoneController,
    AssessmentController,
    AssignmentController,
    CompetencyController,
    CourseProgressController,
    AchievementsController,
    CertificateController,
    LeaderboardController,
    GroupController,
    ReportController,
    ReportQuizzesController,
    EventController,
    ServiceTokenController,
    well_known_jwks,
    HealthController,
)
