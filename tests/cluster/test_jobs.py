"""What a cluster job is, before any scheduler: the tool's arguments and the tasks it asks for."""

import pytest

from pretrain.cluster import TOOLS, Resources, tool_argv


def test_the_tool_is_told_the_output_folder_and_detection_the_nodes_gpus():
    res = Resources(gpus_per_node=4)
    assert tool_argv(TOOLS["pretrain"], ["--config-file", "c.yaml"], "/out", res) == [
        "--config-file", "c.yaml", "OUTPUT_DIR", "/out",
    ]  # fmt: skip
    assert tool_argv(TOOLS["reproduce"], [], "/out", res) == ["--output", "/out"]
    assert tool_argv(TOOLS["detection_runs"], [], "/out", res) == ["--output-dir", "/out", "--num-gpus", "4"]


@pytest.mark.parametrize(
    ("tool", "argv", "message"),
    [
        ("pretrain", ["OUTPUT_DIR", "/x"], "give the output folder as --output-dir of submit.py, not OUTPUT_DIR"),
        ("detection_runs", ["--num-gpus", "2"], "its --num-gpus is submit.py's --gpus-per-node"),
    ],
)
def test_a_second_output_folder_or_gpu_count_is_refused(tool, argv, message):
    with pytest.raises(ValueError, match=message):
        tool_argv(TOOLS[tool], argv, "/out", Resources())


def test_one_task_per_gpu_for_ranks_one_task_on_one_node_otherwise():
    assert Resources(gpus_per_node=8).tasks(TOOLS["pretrain"]) == 8
    assert Resources(gpus_per_node=0).tasks(TOOLS["linear_probe"]) == 1
    assert Resources(gpus_per_node=0, tasks_per_node=2).tasks(TOOLS["knn_eval"]) == 2
    assert Resources(gpus_per_node=8).tasks(TOOLS["reproduce"]) == 1
    with pytest.raises(ValueError, match="reproduce runs as one task on one node"):
        Resources(nodes=2).tasks(TOOLS["reproduce"])
