from graphsvc.ingest.engine import IngestEngine
from graphsvc.model.batch import IngestBatch


async def test_fixture_engine_ingests(engine: IngestEngine) -> None:
    s = await engine.ingest(
        IngestBatch.model_validate({"source": "t", "entities": [{"kind": "Team", "key": "a"}]})
    )
    assert s.entities_created == 1
