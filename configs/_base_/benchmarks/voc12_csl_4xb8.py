# The CSL release on Pascal VOC 2012 with its own schedule (its configs/pascal.yaml
# and logged 1/4 run): 32 labeled + 32 unlabeled + 32 CutMix-source images a
# step at lr 0.001 (head x10), a quarter of the iterations of the 8-a-step
# configs for the same 80 epochs (19,840 on the blended 1/4 split). Here as 4
# GPUs x (8 + 8 + 8) with SyncBN, whose batch statistics are those of the 32
# images of the reference's single GPU.
_base_ = './voc12_csl.py'
train_dataloader = dict(batch_size=24, sampler=dict(batch_size=24))
auto_scale_lr = dict(base_batch_size=96)
