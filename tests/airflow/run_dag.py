"""Run inside .venv-airflow by test_dag.py: load the DAG folder, then `dag.test()` the webtext DAG.

Usage: run_dag.py DAGS_FOLDER '[conf, ...]'. Prints one line `RESULT <json>`: the DagBag's import
errors, the DAG's params and edges, and for each conf the run's state and each task's state.
"""

import importlib.util
import json
import sys

from airflow.dag_processing.dagbag import DagBag

dags_folder, confs = sys.argv[1], json.loads(sys.argv[2])
bag = DagBag(dag_folder=dags_folder)
result = {"import_errors": {str(k): str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags), "runs": []}
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
        result["runs"].append({"state": str(dr.state), "tasks": tasks})
print("RESULT " + json.dumps(result))
