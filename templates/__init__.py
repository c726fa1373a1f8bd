"""MJML + Jinja2 templates of the newsletter (installed as digest.templates)."""
