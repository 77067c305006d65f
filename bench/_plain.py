"The plain library path the overhead benches compare against: the demo's model, adapter and hyperparameters, written with TRL alone."
import torch
from datasets import load_dataset
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer, set_seed
from trl import SFTConfig, SFTTrainer

from peftbench.pico import TASK_FILES, demo_recipe, pico_path


def plain_trainer(out, steps: int, defaults: bool = False, callbacks=()) -> SFTTrainer:
    "What a user writes for the demo's recipe with the libraries alone; fp32 on the CPU unless `defaults` (TRL's bf16 default)."
    set_seed(0)
    ad = demo_recipe().adapter  # the demo's adapter, as the recipe has it
    tok = AutoTokenizer.from_pretrained(pico_path())
    model = AutoModelForCausalLM.from_pretrained(pico_path(), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=ad.r, lora_alpha=ad.alpha, lora_dropout=ad.dropout, target_modules=ad.target_modules,
                                             task_type='CAUSAL_LM'))
    ds = load_dataset('json', data_files=str(TASK_FILES['train']), split='train')
    args = SFTConfig(output_dir=str(out), max_steps=steps, per_device_train_batch_size=16, learning_rate=3e-3, lr_scheduler_type='cosine',
                     warmup_steps=0.05, logging_steps=5, save_strategy='no', report_to='none', max_length=64, use_cpu=True,
                     gradient_checkpointing=False, seed=0, disable_tqdm=True, **({} if defaults else dict(bf16=False, fp16=False)))
    return SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok, callbacks=list(callbacks))
