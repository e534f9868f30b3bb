"""The web console: server-rendered pages for counsellors, coordinators and operators."""
