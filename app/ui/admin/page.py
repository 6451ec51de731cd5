"""The Admin area: staff, security, schedule and clinical set-up, cloud, backups, audit log; each for those allowed."""

from PySide6.QtWidgets import QLabel, QTabWidget, QVBoxLayout, QWidget

from app.domain.permissions import Scope
from app.services.context import Ctx
from app.ui.admin.audit_panel import AuditPanel
from app.ui.admin.backups_panel import BackupsPanel
from app.ui.admin.clinical_panel import ClinicalPanel
from app.ui.admin.cloud_panel import CloudPanel
from app.ui.admin.schedule_setup_panel import ScheduleSetupPanel
from app.ui.admin.security_panel import SecurityPanel
from app.ui.admin.users_panel import UsersPanel
from app.ui.sync.runner import SyncRunner


class AdminPage(QWidget):
    def __init__(self, ctx: Ctx, sync_runner: SyncRunner | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        assert ctx.actor is not None
        title = QLabel("Administration")
        title.setStyleSheet("font-size: 20px; font-weight: 600;")
        self.tabs = QTabWidget()
        if Scope.USERS_ADMIN in ctx.actor.scopes:
            self.users = UsersPanel(ctx)
            self.tabs.addTab(self.users, "Staff accounts")
            self.security = SecurityPanel(ctx)
            self.tabs.addTab(self.security, "Security")
        if Scope.SCHEDULE_SETUP in ctx.actor.scopes:
            self.schedule_setup = ScheduleSetupPanel(ctx)
            self.tabs.addTab(self.schedule_setup, "Schedule set-up")
        if Scope.CATALOGUE_ADMIN in ctx.actor.scopes and Scope.USERS_ADMIN in ctx.actor.scopes:
            self.clinical = ClinicalPanel(ctx)
            self.tabs.addTab(self.clinical, "Clinical set-up")
        if Scope.USERS_ADMIN in ctx.actor.scopes:
            self.cloud = CloudPanel(ctx, sync_runner)
            self.tabs.addTab(self.cloud, "Cloud")
            self.backups = BackupsPanel(ctx)
            self.tabs.addTab(self.backups, "Backups")
        if Scope.AUDIT_READ in ctx.actor.scopes:
            self.audit = AuditPanel(ctx)
            self.tabs.addTab(self.audit, "Audit log")
        layout = QVBoxLayout(self)
        layout.addWidget(title)
        layout.addWidget(self.tabs)
