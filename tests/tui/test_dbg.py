import pytest
from tests.tui.conftest import loaded
pytestmark = pytest.mark.anyio

async def test_dbg(make_app):
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await loaded(pilot)
        b = app.main.query_one("#banner")
        print("BANNER", b.display, repr(b.render()), b.region, app.main.clusters)
