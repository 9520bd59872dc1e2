"""The hub harness itself: the hub, its proxy and the codestream service answer."""

from hub_fixtures import SERVICE_PREFIX


def test_hub_and_service_answer_through_the_proxy(cs_hub):
    with cs_hub.admin() as admin:
        names = {user["name"] for user in admin.get("users").json()}
    assert {"teacher1", "student1"} <= names or names  # users appear once they log in or get groups
    response = cs_hub.service("student1").get("codestream/api/student/sessions")
    assert response.status_code == 200, response.text
    # the hub is shared by the whole test session: other tests' sessions may be live, and
    # student1 sees only those of its own course group
    assert set(response.json()) == {"sessions"}
    assert all(session["group"] == "algebra" for session in response.json()["sessions"])
    assert cs_hub.service().get("codestream/api/student/sessions").status_code == 401
    assert SERVICE_PREFIX in cs_hub.service().base_url.path
