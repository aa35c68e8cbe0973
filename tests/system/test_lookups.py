"""The one look-up route, GET /api/v1/lookups/{name}: the look-ups services declare on their
fields (addresses by postcode; a service's collection slots by UPRN). The older routes stay as
aliases."""


def test_catalogue_names_each_fields_lookup(gateway):
    token = gateway.sign_in()
    services = {s["code"]: s for s in
                gateway.request("GET", "/api/v1/services", token=token).json["services"]}
    slot = {f["name"]: f for f in services["bulky-refuse"]["fields"]}["slot"]
    assert slot["lookup"] == "slots"


def test_addresses_and_slots_through_the_one_route(gateway):
    token = gateway.sign_in()
    r = gateway.request("GET", "/api/v1/lookups/addresses?postcode=sk1%203xe", token=token)
    assert r.status == 200, r
    assert r.json["postcode"] == "SK1 3XE"
    assert r.json == gateway.request("GET", "/api/v1/addresses?postcode=SK1%203XE",
                                     token=token).json
    r = gateway.request("GET", "/api/v1/lookups/slots?service=bulky-refuse&uprn=100011429002",
                        token=token)
    assert r.status == 200, r
    assert any(s["available"] for s in r.json["slots"])
    old = gateway.request("GET", "/api/v1/services/bulky-refuse/slots?uprn=100011429002",
                          token=token)
    assert old.status == 200 and old.json == r.json


def test_unknown_lookups_and_services(gateway):
    token = gateway.sign_in()
    assert gateway.request("GET", "/api/v1/lookups/cards", token=token).status == 404
    # a service that declares no slots look-up
    r = gateway.request("GET", "/api/v1/lookups/slots?service=library-sales&uprn=1", token=token)
    assert r.status == 404, r
    assert gateway.request("GET", "/api/v1/lookups/slots?uprn=1", token=token).status == 404
    r = gateway.request("GET", "/api/v1/lookups/slots?service=bulky-refuse", token=token)
    assert r.status == 422, r
    assert gateway.request("GET", "/api/v1/lookups/addresses?postcode=SK13XE").status == 401
