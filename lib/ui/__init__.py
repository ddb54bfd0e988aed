"""The Streamlit side of the app (the only package of lib/ that imports Streamlit):
- resources: settings, taxonomy, the worker, and store(), the one way a page gets the database;
- auth: hosted-mode sign-in and what a role may do;
- nav: shared links to a page, and the sidebar app.py draws;
- session: the session-state keys several pages share;
- display and chat: how labels, statuses and conversations look on every page;
- compat and flash: what this Streamlit version offers, and a message shown once after a click;
- quality and calibration: the Review page's quality panel and its judge calibration tab;
- review_actions, review_widgets, review_analytics: the Review queue's state and callbacks, its forms
  and panels, and the label analytics tab.
"""
