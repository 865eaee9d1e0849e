"""Online entry-level admissions: roster, catchments, applications, allocation rounds."""


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    from . import cli, demo, models  # noqa: F401 - models register their tables

    app.cli.add_command(cli.admissions_cli)
    from . import views  # Excel imports: upload, progress, report, templates

    app.register_blueprint(views.bp)
    from . import office_views, parent_views  # season, codes, children, applications

    app.register_blueprint(office_views.bp)
    app.register_blueprint(parent_views.bp)
    app.register_blueprint(office_views.public_bp)  # published rounds: seed commitments, seeds, files
    from . import council_views, dashboard_views, public_views  # dashboard + exports, public figures, council

    app.register_blueprint(dashboard_views.bp)
    app.register_blueprint(public_views.bp)
    app.register_blueprint(council_views.bp)
    app.extensions.setdefault("demo_loaders", []).append(demo.load_demo)
