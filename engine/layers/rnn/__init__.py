"""Recurrent layers: the cells (``cells``), the layers that run them over time
(``recurrent``), the convolutional LSTMs (``conv_lstm``) and the Bidirectional and
TimeDistributed wrappers (``wrappers``); ``common`` holds what they share."""

from .cells import GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from .conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from .recurrent import GRU, LSTM, RNN, SimpleRNN, run_recurrence
from .wrappers import Bidirectional, TimeDistributed

__all__ = ["SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "RNN", "SimpleRNN",
           "LSTM", "GRU", "Bidirectional", "TimeDistributed", "ConvLSTM1D", "ConvLSTM2D",
           "ConvLSTM3D", "run_recurrence"]
