"""Oracle cases for the recurrent layers (tests/engine/test_oracle_layers.py runs them)."""

import copy

from tests.oracle_gen.common import case as _case


def _with_module(x):
    """Keras 3 needs ``module`` on nested layer configs; tf_keras takes them without."""
    if isinstance(x, list):
        return [_with_module(i) for i in x]
    if isinstance(x, dict):
        out = {k: _with_module(v) for k, v in x.items()}
        if "class_name" in out and "config" in out:
            out = {"module": "keras.layers", **out}
        return out
    return x


def case(name, class_name, config, inputs, **kw):
    """Keras mutates the config it is given: each format gets its own copy."""
    kw.setdefault("k2_config", copy.deepcopy(config))
    return _case(name, class_name, _with_module(copy.deepcopy(config)), inputs, **kw)

_SEQ = [(2, 5, 3)]


def _lstm(**kw):
    return {"class_name": "LSTM", "config": {"units": 3, **kw}}


def _gru(**kw):
    return {"class_name": "GRU", "config": {"units": 3, **kw}}


def _srnn(**kw):
    return {"class_name": "SimpleRNN", "config": {"units": 3, **kw}}


CASES = [
    # SimpleRNN
    case("simple_rnn_relu_nobias_seq", "SimpleRNN",
         {"units": 4, "activation": "relu", "use_bias": False, "return_sequences": True}, _SEQ),
    case("simple_rnn_mask_seq", "SimpleRNN", {"units": 4, "return_sequences": True}, _SEQ,
         mask=(2, 5)),
    case("simple_rnn_backwards_seq_mask", "SimpleRNN",
         {"units": 3, "return_sequences": True, "go_backwards": True}, _SEQ, mask=(2, 5)),
    case("simple_rnn_dropout_unroll", "SimpleRNN",
         {"units": 3, "dropout": 0.3, "recurrent_dropout": 0.2, "unroll": True}, _SEQ),
    # LSTM
    case("lstm_return_state", "LSTM", {"units": 4, "return_state": True}, _SEQ),
    case("lstm_seq_state_mask", "LSTM",
         {"units": 3, "return_sequences": True, "return_state": True}, _SEQ, mask=(2, 5)),
    case("lstm_no_forget_bias_backwards_mask", "LSTM",
         {"units": 3, "unit_forget_bias": False, "go_backwards": True,
          "return_sequences": True}, _SEQ, mask=(2, 5)),
    case("lstm_last_mask", "LSTM", {"units": 4}, [(3, 6, 2)], mask=(3, 6)),
    case("lstm_dropout_seed_unroll", "LSTM",
         {"units": 3, "dropout": 0.4, "recurrent_dropout": 0.3, "seed": 7, "unroll": True},
         _SEQ),
    case("lstm_zero_output_for_mask", "LSTM",
         {"units": 3, "return_sequences": True, "zero_output_for_mask": True}, _SEQ,
         mask=(2, 5), formats=("k3",)),
    case("lstm_time_major", "LSTM", {"units": 3, "time_major": True, "return_sequences": True,
                                     "return_state": True}, [(5, 2, 3)], formats=("k2",)),
    case("lstm_selu_tanh_activations", "LSTM",
         {"units": 3, "activation": "selu", "recurrent_activation": "tanh"}, _SEQ),
    # GRU
    case("gru_reset_before", "GRU", {"units": 4, "reset_after": False}, _SEQ),
    case("gru_reset_before_mask_seq", "GRU",
         {"units": 3, "reset_after": False, "return_sequences": True}, _SEQ, mask=(2, 5)),
    case("gru_seq_state", "GRU", {"units": 3, "return_sequences": True, "return_state": True},
         _SEQ),
    case("gru_nobias_relu", "GRU", {"units": 3, "use_bias": False, "activation": "relu"},
         _SEQ),
    case("gru_reset_before_nobias_backwards", "GRU",
         {"units": 3, "use_bias": False, "reset_after": False, "go_backwards": True}, _SEQ),
    case("gru_dropout", "GRU", {"units": 3, "dropout": 0.5, "recurrent_dropout": 0.5}, _SEQ),
    # RNN with cells
    case("rnn_grucell_seq", "RNN",
         {"cell": {"class_name": "GRUCell", "config": {"units": 3, "reset_after": False}},
          "return_sequences": True}, _SEQ),
    case("rnn_lstmcell_state_mask", "RNN",
         {"cell": {"class_name": "LSTMCell", "config": {"units": 3}}, "return_state": True},
         _SEQ, mask=(2, 5)),
    case("rnn_simplecell_backwards", "RNN",
         {"cell": {"class_name": "SimpleRNNCell", "config": {"units": 2}},
          "go_backwards": True, "return_sequences": True}, _SEQ),
    case("rnn_stacked_lstm_gru_seq", "RNN",
         {"cell": [{"class_name": "LSTMCell", "config": {"units": 4}},
                   {"class_name": "GRUCell", "config": {"units": 3}}],
          "return_sequences": True}, _SEQ, mask=(2, 5), formats=("k3",)),
    case("rnn_stacked_cells_explicit", "RNN",
         {"cell": {"class_name": "StackedRNNCells", "config": {"cells": [
             {"class_name": "SimpleRNNCell", "config": {"units": 3}},
             {"class_name": "LSTMCell", "config": {"units": 2}}]}}}, _SEQ),
    # cells called on one step: cell(x, h)
    case("simple_rnn_cell_step", "SimpleRNNCell", {"units": 3}, [(2, 4), (2, 3)],
         call="args", formats=("k3",)),
    case("gru_cell_step", "GRUCell", {"units": 3}, [(2, 4), (2, 3)], call="args",
         formats=("k3",)),
    case("gru_cell_step_reset_before", "GRUCell", {"units": 3, "reset_after": False},
         [(2, 4), (2, 3)], call="args", formats=("k3",)),
    # Bidirectional
    case("bidirectional_lstm_concat", "Bidirectional", {"layer": _lstm()}, _SEQ),
    case("bidirectional_gru_sum_seq_mask", "Bidirectional",
         {"layer": _gru(return_sequences=True), "merge_mode": "sum"}, _SEQ, mask=(2, 5)),
    case("bidirectional_srnn_mul", "Bidirectional",
         {"layer": _srnn(), "merge_mode": "mul"}, _SEQ),
    case("bidirectional_lstm_none_seq_mask", "Bidirectional",
         {"layer": _lstm(return_sequences=True), "merge_mode": None}, _SEQ, mask=(2, 5)),
    case("bidirectional_lstm_concat_state", "Bidirectional",
         {"layer": _lstm(return_state=True)}, _SEQ),
    case("bidirectional_gru_none_state_seq", "Bidirectional",
         {"layer": _gru(return_state=True, return_sequences=True), "merge_mode": None}, _SEQ),
    case("bidirectional_given_backward", "Bidirectional",
         {"layer": _gru(return_sequences=True),
          "backward_layer": {"class_name": "GRU", "config": {
              "units": 2, "go_backwards": True, "return_sequences": True,
              "reset_after": False}}}, _SEQ, mask=(2, 5)),
    case("bidirectional_ave_mask_last", "Bidirectional",
         {"layer": _lstm(), "merge_mode": "ave"}, _SEQ, mask=(2, 5)),
    case("bidirectional_rnn_cell", "Bidirectional",
         {"layer": {"class_name": "RNN", "config": {
             "cell": {"class_name": "LSTMCell", "config": {"units": 2}},
             "return_sequences": True}}}, _SEQ),
    # TimeDistributed
    case("time_distributed_dense_mask", "TimeDistributed",
         {"layer": {"class_name": "Dense", "config": {"units": 3}}}, [(2, 4, 3)],
         mask=(2, 4)),
    case("time_distributed_conv2d", "TimeDistributed",
         {"layer": {"class_name": "Conv2D", "config": {"filters": 2, "kernel_size": 3,
                                                       "padding": "same"}}},
         [(2, 3, 5, 5, 2)]),
    case("time_distributed_lstm", "TimeDistributed",
         {"layer": {"class_name": "LSTM", "config": {"units": 2}}}, [(2, 3, 4, 2)]),
    # ConvLSTM
    case("conv_lstm1d_same_state", "ConvLSTM1D",
         {"filters": 2, "kernel_size": 3, "padding": "same", "return_state": True},
         [(2, 4, 6, 2)]),
    case("conv_lstm2d_strides_valid", "ConvLSTM2D",
         {"filters": 3, "kernel_size": [2, 3], "strides": 2}, [(2, 3, 7, 7, 2)]),
    case("conv_lstm2d_dilation_backwards_mask", "ConvLSTM2D",
         {"filters": 2, "kernel_size": 3, "dilation_rate": 2, "go_backwards": True,
          "return_sequences": True, "recurrent_activation": "hard_sigmoid"},
         [(2, 4, 7, 7, 1)], mask=(2, 4)),
    case("conv_lstm2d_nobias_no_forget", "ConvLSTM2D",
         {"filters": 2, "kernel_size": 3, "use_bias": False, "unit_forget_bias": False,
          "padding": "same"}, [(2, 3, 5, 5, 2)]),
    case("conv_lstm2d_channels_first_state", "ConvLSTM2D",
         {"filters": 2, "kernel_size": 3, "data_format": "channels_first", "padding": "same",
          "return_state": True}, [(2, 3, 2, 5, 4)]),
    case("conv_lstm3d_same_seq", "ConvLSTM3D",
         {"filters": 2, "kernel_size": 2, "padding": "same", "return_sequences": True},
         [(1, 3, 3, 4, 4, 2)]),
]
