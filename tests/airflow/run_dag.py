"""Run inside .venv-airflow by test_dag.py: load the DAG folder, then `dag.test()` the webtext DAG.

Usage: run_dag.py DAGS_FOLDER '[conf, ...]'. Prints one line `RESULT <json>`: the DagBag's import
errors, each task's operational settings as the DagBag loaded them (retries, backoff, timeout, pool,
asset outlets), the DAG's params and edges, and for each conf the run's state, each task's state
and the asset events it emitted.
"""

import importlib.util
import json
import sys

from airflow.dag_processing.dagbag import DagBag

dags_folder, confs = sys.argv[1], json.loads(sys.argv[2])
bag = DagBag(dag_folder=dags_folder)
result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags), "runs": []}
if "webtext" in bag.dags:
    def seconds(td):
        return None if td is None else td.total_seconds()

    result["tasks"] = {
        t.task_id: {
            "retries": t.retries, "retry_delay": seconds(t.retry_delay), "backoff": bool(t.retry_exponential_backoff),
            "max_retry_delay": seconds(t.max_retry_delay), "timeout": seconds(t.execution_timeout),
            "pool": t.pool, "pool_slots": t.pool_slots, "outlets": sorted(getattr(o, "name", str(o)) for o in t.outlets),
        }
        for t in bag.dags["webtext"].tasks
    }
if "webtext" in bag.dags and confs:
    # dag.test() on the module's own DAG object (it serialises it and syncs the dags folder bundle).
    spec = importlib.util.spec_from_file_location("webtext_dag", f"{dags_folder}/webtext_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.dag
    result["params"] = sorted(dag.params.keys())
    result["edges"] = sorted([t.task_id, d] for t in dag.tasks for d in sorted(t.downstream_task_ids))
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    for conf in confs:
        dr = dag.test(run_conf=conf)
        with create_session() as session:
            tis = session.query(TaskInstance).filter(TaskInstance.dag_id == "webtext", TaskInstance.run_id == dr.run_id).all()
            tasks = {ti.task_id: str(ti.state) for ti in tis}
            from airflow.models.asset import AssetEvent

            events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dr.run_id).all()
            assets = sorted([e.asset.name, (e.extra or {}).get("path")] for e in events)
        result["runs"].append({"state": str(dr.state), "tasks": tasks, "assets": assets})
print("RESULT " + json.dumps(result))
