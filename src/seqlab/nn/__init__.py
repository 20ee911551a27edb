"""The math of seqlab: layers written from their equations, importing no plumbing.

``RNN``, ``LSTM`` and ``GRU`` (and their cells) are drop-ins for torch.nn's, with
variable lengths, recurrent dropout, layer norm and a choice of backend added.
"""

from seqlab.nn.cells import GRUCell, LSTMCell, RNNCell, gru_step, lstm_step, rnn_step
from seqlab.nn.recurrent import BACKENDS, GRU, LSTM, RNN

__all__ = ["BACKENDS", "GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNCell", "gru_step", "lstm_step", "rnn_step"]
