"""The hub harness itself: the hub, its proxy and the codestream service answer."""

from hub_fixtures import SERVICE_PREFIX


def test_hub_and_service_answer_through_the_proxy(cs_hub):
    with cs_hub.admin() as admin:
        names = {user["name"] for user in admin.get("users").json()}
    assert {"teacher1", "teacher2", "student1", "student2", "outsider"} <= names
    response = cs_hub.service("outsider").get("codestream/api/student/sessions")
    assert response.status_code == 200, response.text
    assert response.json() == {"sessions": []}  # in no group: nothing to join, whatever other tests made
    assert cs_hub.service().get("codestream/api/student/sessions").status_code == 401
    assert SERVICE_PREFIX in cs_hub.service().base_url.path
