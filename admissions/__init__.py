"""Online entry-level admissions: roster, catchments, applications, allocation rounds."""


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    # Importing the pages and commands here, not at the top, keeps the pure admissions.allocation
    # importable without Flask (importing it runs this file first).
    from . import cli, demo, views  # lazy: admissions.allocation must import without Flask

    for bp in views.BLUEPRINTS:
        app.register_blueprint(bp)
    app.cli.add_command(cli.admissions_cli)
    app.extensions.setdefault("demo_loaders", []).append(demo.load_demo)
