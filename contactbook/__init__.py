"""Electronic contact book: classes, grades, comments, attendance, messages, announcements."""


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    from . import cli, demo, models, web  # noqa: F401 - models register their tables

    app.register_blueprint(web.load_views())
    # Parents created from class lists activate their account instead of registering again.
    app.config.setdefault("ACCOUNT_ACTIVATION_ENDPOINT", "contactbook.activate")
    app.cli.add_command(cli.contactbook_cli)
    app.extensions.setdefault("demo_loaders", []).append(demo.load_demo)
