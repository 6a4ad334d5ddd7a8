"""Admin gate for the Streamlit pages: constant-time token check; no token configured means no admin."""

from __future__ import annotations

import hmac
import os

from cfkit.study.config import ENV_ADMIN_TOKEN


def token_ok(given: str | None, expected: str | None) -> bool:
    """True only for a non-empty expected token that ``given`` matches (``hmac.compare_digest``)."""
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def require_admin() -> bool:
    """Render the token prompt until the right token is entered; True once this session is authorised."""
    import streamlit as st

    expected = os.environ.get(ENV_ADMIN_TOKEN, "")
    if not expected:
        st.error("Admin pages are disabled: start the app with `cfkit study serve --admin-token TOKEN`.")
        return False
    if token_ok(st.session_state.get("admin_token"), expected):
        return True
    with st.form("admin-login"):
        given = st.text_input("Admin token", type="password")
        if st.form_submit_button("Open"):
            if token_ok(given, expected):
                st.session_state["admin_token"] = given
                st.rerun()
            st.error("Wrong token.")
    return False
